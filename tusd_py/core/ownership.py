"""Who may reach an upload: its owner, or anyone on an open server.

The web layer hands every operation the owner of the request ("" when the server has no
accounts). Another owner's upload is answered exactly like an unknown id (404), so an id tells
a stranger nothing; the empty owner reaches every upload, as a plain tus server does.
"""

from __future__ import annotations

from ..protocol.errors import UploadGone, UploadNotFound
from ..protocol.info import UploadInfo
from .ports import Store, Upload


def check_owner(info: UploadInfo, owner: str) -> None:
    """Another owner's upload does not exist for this caller; the empty owner (open server) reaches all."""
    if owner and info.owner != owner:
        raise UploadNotFound(f"upload {info.id} does not exist")


async def owned_upload(store: Store, upload_id: str, owner: str) -> tuple[Upload, UploadInfo]:
    """The caller's upload and its info. A removed upload (its tombstone) is 410 to its owner
    only: to anyone else it is 404, as it was while it lived, so a DELETE tells a stranger who
    learnt the id nothing either."""
    try:
        upload = await store.get_upload(upload_id)
        info = await upload.get_info()
    except UploadGone as gone:
        if owner and gone.owner != owner:
            raise UploadNotFound(f"upload {upload_id} does not exist") from None
        raise
    check_owner(info, owner)
    return upload, info
