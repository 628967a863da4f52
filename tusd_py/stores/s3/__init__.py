"""S3 store: one tus upload is one S3 multipart upload; its record lives in Redis.

# Implementation

S3 objects (``<key>`` is ``TUSD_S3_PREFIX`` + upload id):

``<key>.info``
    JSON: the UploadInfo, the multipart UploadId and the part size. Written at creation,
    rewritten when a deferred length is declared and when the upload is completed and handed
    off. It is enough, with ListParts and ``<key>.part``, to rebuild a lost record. Kept after
    completion (HEAD keeps working and a rebuild knows the upload was handed off); deleted by
    termination and expiry.
multipart upload on ``<key>``
    Created at creation (not for zero-length uploads). Parts are numbered 1, 2, ... in byte
    order; every part but the last is at least the minimum part size (5 MiB on AWS), and with
    uniform parts exactly the upload's part size. Completed by ``finish`` (CompleteMultipartUpload),
    aborted by termination and expiry.
``<key>.part``
    The tail: bytes after the committed parts that are too few for a part. Its metadata
    ``tus-start`` (offset of its first byte) and ``tus-parts`` (committed part count) make it the
    *checkpoint* of the upload. Rewritten at the end of every request that changed anything, read
    at the start of the next one, deleted when the object is assembled or the upload terminated.
``<key>``
    The final object, after completion; HeadObject must report Upload-Length before the upload
    counts as completed. A zero-length upload is an empty PutObject. Deleted by termination.

Redis keys (formats in ``tusd_py/state/keyspace.py``):

``tus:upload:<id>``
    Hash: the authoritative offset, size, state, expiry, UploadId, part size, part count and tail
    size. HEAD reads only this. Parts and offset change together in one Lua script.
``tus:upload:<id>:parts``
    List of the committed parts (number, size, ETag), dropped once the object is assembled.
``tus:uploads``
    Sorted set of uploads the sweeper visits; an upload leaves it once handed off.
``tus:gone:<id>``
    Tombstone (TTL ``TUSD_TOMBSTONE_TTL``) so that a terminated or expired upload answers 410.

Without ``TUSD_REDIS_URL`` the same records live in process memory (``MemoryUploadRecords``).

# Considerations

* The offset advances only over a contiguous run of parts S3 acknowledged. botocore retries a
  transient failure of a part under its own number (``client.open_client``); if it still fails
  the request keeps the run before it and answers 503, and the client resumes from HEAD.
* Rebuilding from S3 (Redis flushed or restarted without persistence) trusts only the parts
  counted by the last checkpoint: a part above it may hold bytes of an interrupted request at
  other boundaries. So a rebuild can lose the progress of the request that was running, but it
  never reports an offset it does not have.
* Parts are buffered in memory: at most ``TUSD_S3_PARTS_IN_FLIGHT`` + 1 parts per upload and
  ``TUSD_S3_PARTS_IN_FLIGHT_TOTAL`` uploading per process. Memory is bounded by part sizes, not
  by file sizes. No temporary files.
* Part sizing and the deferred-length policy: see ``parts.py`` and docs/storage-s3.md.
"""

from __future__ import annotations

from .store import S3Config, S3Store

__all__ = ["S3Config", "S3Store"]
