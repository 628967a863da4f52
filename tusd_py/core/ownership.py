"""Who may reach an upload: its owner, or anyone on an open server.

The web layer hands every operation the owner of the request ("" when the server has no
accounts). Another owner's upload is answered exactly like an unknown id (404), so an id tells
a stranger nothing; the empty owner reaches every upload, as a plain tus server does.
"""

from __future__ import annotations

from ..protocol.errors import UploadNotFound
from ..protocol.info import UploadInfo


def check_owner(info: UploadInfo, owner: str) -> None:
    """Another owner's upload does not exist for this caller; the empty owner (open server) reaches all."""
    if owner and info.owner != owner:
        raise UploadNotFound(f"upload {info.id} does not exist")
