"""Every Redis key the server writes, in one place (arq's ``constants.py``).

tus:upload:<id>           hash: the upload record (UploadInfo JSON + offset, size, state,
                          expires_at, multipart id, part size, part count, tail size, and
                          discarded = "1" once processing dropped the plaintext object).
                          Lives as long as the upload; deleted by termination/expiry.
tus:upload:<id>:parts     list: committed S3 parts as JSON [number, size, etag], in order.
                          Dropped once the object is assembled (state completed).
tus:uploads               sorted set: ids of uploads the sweeper must visit (score: creation
                          time). An id leaves it when handed off (or, for a partial, completed).
tus:gone:<id>             string: tombstone of a terminated or expired upload, "<time> <owner>"
                          (410 to that owner, 404 to any other), with a TTL of
                          ``tombstone_ttl`` seconds; afterwards the id answers 404.
tus:lock:<id>             string: the per-upload lock token (RedisLocker), with a TTL.
tus:lock:<id>:release     pub/sub channel: "please release" messages to the lock holder.
tus:lock:<id>:released    pub/sub channel: the holder let go (waiters retry at once).
tus:handoff:<id>          string: the upload was handed to processing (set with its arq job,
                          in one script, so it is enqueued exactly once). No TTL.
"""

from __future__ import annotations

PREFIX = "tus:"
LIVE_UPLOADS = f"{PREFIX}uploads"


def upload_key(upload_id: str) -> str:
    return f"{PREFIX}upload:{upload_id}"


def parts_key(upload_id: str) -> str:
    return f"{PREFIX}upload:{upload_id}:parts"


def tombstone_key(upload_id: str) -> str:
    return f"{PREFIX}gone:{upload_id}"


def lock_key(upload_id: str) -> str:
    return f"{PREFIX}lock:{upload_id}"


def release_channel(upload_id: str) -> str:
    return f"{PREFIX}lock:{upload_id}:release"


def released_channel(upload_id: str) -> str:
    return f"{PREFIX}lock:{upload_id}:released"


# One pattern subscription per process carries both lock channels of every upload.
RELEASE_PATTERN = f"{PREFIX}lock:*:release"
RELEASED_PATTERN = f"{PREFIX}lock:*:released"


def handoff_key(upload_id: str) -> str:
    return f"{PREFIX}handoff:{upload_id}"
