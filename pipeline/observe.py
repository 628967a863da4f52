"""What a job reports (``JobObserver``): the pipeline's port for metrics. The application
implements it (tusd_py/metrics.py, with prometheus-client) and hands it to ``Deps``; the default
does nothing. Everything is reported by the job in the parent process: the transcode pool's
children send only progress through the pool's channel (``pool.py``), so no metric is ever
written from a child process and nothing multiprocess is needed."""

from __future__ import annotations


class JobObserver:
    """No-op defaults; called on the event loop, once per job or per step, never per frame."""

    def job_started(self) -> None:
        """A job claimed its record and runs (``job_ended`` follows, whatever happens)."""

    def job_ended(self, state: str) -> None:
        """The try is over: ``state`` is ``ready``, ``failed``, ``stored`` (not media) or ``retry``."""

    def transcoded(self, seconds: float, source_seconds: float) -> None:
        """The ladder of a source of ``source_seconds`` took ``seconds`` of wall time."""

    def ready_after(self, seconds: float) -> None:
        """A job published ``seconds`` after its upload was handed off (finished)."""


NO_OBSERVER = JobObserver()
