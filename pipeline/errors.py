"""The errors the pipeline raises, whatever storage the application plugs in::

    PipelineError
      + StorageUnavailable   transient: storage or its network is down or throttling; retry later
      + StorageError         storage refused the call (permissions, no bucket): retrying will not help
      + SourceMissing        the upload to process is missing or gone

Adapters translate their own errors into these at the edge (``assets.py`` for the S3 SDK, the
application's ``UploadSource``), and the application translates these back into its own where
it calls the pipeline (tusd_py/processing.py).
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of the pipeline's own errors."""


class StorageUnavailable(PipelineError):
    """Storage is unreachable, throttling or failing for now: the job runs again later."""


class StorageError(PipelineError):
    """Storage refused the call for a reason a retry does not change."""


class SourceMissing(PipelineError):
    """The upload to process is missing or gone (terminated, expired)."""
