"""What the direct-upload service needs from object storage (the S3 store implements it in
``tusd_py/stores/s3/direct.py``; ``app.py`` wires it). Parts cross as plain tuples
``(number, size, etag)`` so that neither side imports the other."""

from __future__ import annotations

from typing import Protocol

from ..protocol.info import UploadInfo

Part = tuple[int, int, str]  # part number, size in bytes, ETag


class DirectStorage(Protocol):
    async def create(self, info: UploadInfo, *, multipart: bool, content_type: str) -> None:
        """Record a new upload of the tus store (``info.storage`` is set here, with ``direct`` =
        'multipart' or 'put') and, for 'multipart', create its S3 multipart upload."""

    async def sign_parts(self, upload_id: str, numbers: list[int], ttl: int) -> dict[int, str]:
        """A presigned UploadPart URL per part number, each valid ``ttl`` seconds for that number only."""

    async def sign_post(self, upload_id: str, *, size: int, content_type: str, ttl: int) -> tuple[str, dict[str, str]]:
        """A presigned POST (form upload) of exactly ``size`` bytes: the URL and the form fields."""

    async def parts(self, upload_id: str) -> list[Part] | None:
        """The parts S3 holds (ListParts), by number; None once the multipart upload is gone."""

    async def stored_size(self, upload_id: str) -> int | None:
        """The size of the upload's object (a single upload), None while there is none."""

    async def adopt(self, upload_id: str, parts: list[Part], size: int) -> None:
        """The upload's record now holds these parts and ``size`` bytes: the store's completion
        (CompleteMultipartUpload with exactly these ETags) can run."""
