"""The webhook events and their JSON bodies (snake_case, as the rest of the API).

Every body has ``event``, ``id`` (the event's id: the same for every URL and every retry, so a
receiver can ignore a delivery it has already handled), ``occurred_at`` (ISO 8601, UTC) and
``upload_id``; the others add what they know:

``upload.created``   owner, size (null while deferred), name
``upload.finished``  owner, size, name: every byte is stored (never sent for a partial upload)
``media.ready``      owner, size, name, state (``ready``, or ``stored`` for a file that is no
                     media), kind, duration, renditions, thumbnails, media_url
``media.failed``     owner, size, name, state, reason
``media.deleted``    the upload (and its processed media, if any) was terminated, erased or expired

``owner`` is the user id ("" on an open server). An event id is derived from what happened
(``event_id``), so recording the same event twice, as a retried step does after a crash, yields
one event.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pipeline.contract import MediaRecord, MediaState

from ..protocol.info import UploadInfo

UPLOAD_CREATED = "upload.created"
UPLOAD_FINISHED = "upload.finished"
MEDIA_READY = "media.ready"
MEDIA_FAILED = "media.failed"
MEDIA_DELETED = "media.deleted"
EVENTS = (UPLOAD_CREATED, UPLOAD_FINISHED, MEDIA_READY, MEDIA_FAILED, MEDIA_DELETED)


def event_id(event: str, upload_id: str, discriminator: str = "") -> str:
    """The id of ``event`` for an upload; ``discriminator`` tells apart events that may happen
    more than once (a failure of each processing attempt)."""
    return hashlib.sha256(f"{event}:{upload_id}:{discriminator}".encode()).hexdigest()[:32]


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def upload_fields(info: UploadInfo | None) -> dict[str, Any]:
    """What the upload's info says of its owner, size and name (nothing when it is unknown)."""
    if info is None:
        return {}
    meta = info.meta()
    return {"owner": info.owner, "size": info.size, "name": meta.text("filename") or meta.text("name") or ""}


def body(event: str, eid: str, upload_id: str, occurred_at: float, **fields: Any) -> str:
    document = {"event": event, "id": eid, "occurred_at": iso(occurred_at), "upload_id": upload_id, **fields}
    return json.dumps(document, separators=(",", ":"), sort_keys=False)


def media_event(record: MediaRecord) -> tuple[str, str] | None:
    """The event a final record is (name, id), or None for a record still on its way."""
    if record.state in (MediaState.READY, MediaState.STORED):
        return MEDIA_READY, event_id(MEDIA_READY, record.upload_id)
    if record.state is MediaState.FAILED:
        return MEDIA_FAILED, event_id(MEDIA_FAILED, record.upload_id, record.attempt or str(record.tries))
    return None


def media_fields(record: MediaRecord) -> dict[str, Any]:
    """The state and outputs summary of a final record (never a key, a path or a signed URL)."""
    fields: dict[str, Any] = {"state": str(record.state)}
    if record.state is MediaState.FAILED:
        fields["reason"] = record.reason
        return fields
    fields.update(
        kind=record.kind,
        duration=record.duration,
        renditions=[{"name": r.name, "width": r.width, "height": r.height} for r in record.renditions],
        thumbnails=len(record.thumbnails),
        media_url=f"/media/{record.upload_id}",
    )
    if record.state is MediaState.STORED:
        fields["reason"] = record.reason
    return fields
