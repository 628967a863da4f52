"""The crypto section: encryption at rest and delivery (``TUSD_`` prefix), used by the server,
the worker and ``tusd-py keys``. ``keyring.py`` turns it into a key ring and a URL signing secret.

Two facts of the storage section matter here and are not read again: the data dir (default home
of the key file) and whether storage is shared between machines (S3: a key is never created).
Whoever builds the section says both with ``placed()``; the application's settings model does it
once for every process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .envelope import DEFAULT_FRAME_SIZE, MAX_FRAME_SIZE
from .signing import MIN_SECRET_SIZE

KEY_FILE_NAME = "master.key"
PREVIOUS_DIR = "previous"  # beside the key file: earlier master keys, kept until retired


class CryptoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUSD_", extra="forbid")

    _data_dir: Path = PrivateAttr(default=Path("./data"))
    _shared_storage: bool = PrivateAttr(default=False)

    # -- the key-encryption key (KEK) ---------------------------------------------------------
    kek_provider: Literal["local", "kms"] = Field(
        default="local",
        description="Who wraps the per-asset data keys: 'local' (a master key from TUSD_MASTER_KEY or the key "
        "file) or 'kms' (AWS KMS key TUSD_KMS_KEY_ID).",
    )
    master_key: str = Field(
        default="",
        description="The local master key, 32 bytes as 64 hex digits or base64. Wins over the key file. "
        "Losing it makes every stored asset unreadable.",
    )
    master_key_file: str = Field(
        default="",
        description="Path of the local master key file (default: <data_dir>/keys/master.key). Created with mode "
        "0600 on first start when TUSD_CREATE_MASTER_KEY allows it; never regenerated. Earlier keys live in "
        "its previous/ folder until `tusd-py keys retire`.",
    )
    create_master_key: bool = Field(
        default=True,
        description="Create the key file on first start if it is missing (the embedded default). Never done with "
        "TUSD_STORE=s3: there, and when this is false, a missing key is an error at start.",
    )
    previous_master_keys: str = Field(
        default="",
        description="Earlier local master keys (comma-separated, hex or base64) still needed to unwrap data keys "
        "until `tusd-py keys rotate` has rewrapped them; only used to unwrap.",
    )
    kms_key_id: str = Field(default="", description="AWS KMS key (ARN preferred) with TUSD_KEK_PROVIDER=kms.")
    kms_previous_key_ids: str = Field(
        default="", description="Earlier KMS keys (comma-separated) still needed to unwrap; only used to unwrap."
    )
    kms_endpoint_url: str = Field(default="", description="KMS endpoint (LocalStack, moto...); empty = AWS.")
    kms_region: str = Field(default="us-east-1", description="KMS region.")

    # -- delivery -------------------------------------------------------------------------------
    url_signing_secret: str = Field(
        default="",
        description="Secret of the signed playback URLs (at least 16 bytes). Empty: derived from the local master "
        "key with HKDF (so `keys rotate` invalidates URLs issued before it); required with the KMS provider.",
    )
    url_ttl: int = Field(
        default=3600, gt=0, description="Seconds a signed URL stays valid (playlists, key, segments, files)."
    )
    presign_ttl: int = Field(
        default=300, gt=0, description="Seconds a presigned S3 segment URL (the target of a redirect) stays valid."
    )
    envelope_frame_size: int = Field(
        default=DEFAULT_FRAME_SIZE,
        ge=16,
        le=MAX_FRAME_SIZE,
        description="Plaintext bytes per AES-256-GCM frame of stored objects (a range read decrypts whole frames).",
    )

    @field_validator("url_signing_secret")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        # checked here, not when the first URL is signed: a short secret makes signatures guessable
        if value and len(value.encode()) < MIN_SECRET_SIZE:
            raise ValueError(f"must be at least {MIN_SECRET_SIZE} bytes (or empty to derive one from the master key)")
        return value

    @model_validator(mode="after")
    def _kms_needs_a_key(self) -> Self:
        if self.kek_provider == "kms" and not self.kms_key_id:
            raise ValueError("TUSD_KMS_KEY_ID: required with TUSD_KEK_PROVIDER=kms")
        return self

    def placed(self, data_dir: str | Path, *, shared_storage: bool) -> Self:
        """This section for storage under ``data_dir``; ``shared_storage`` (S3): never create a key."""
        placed = self.model_copy()
        placed._data_dir, placed._shared_storage = Path(data_dir), shared_storage
        return placed

    @property
    def shared_storage(self) -> bool:
        return self._shared_storage

    @property
    def key_file(self) -> Path:
        return Path(self.master_key_file) if self.master_key_file else self._data_dir / "keys" / KEY_FILE_NAME

    @property
    def previous_dir(self) -> Path:
        return self.key_file.parent / PREVIOUS_DIR

    @property
    def may_create_key(self) -> bool:
        """Only the embedded default creates a key: in production a missing key must stop the start."""
        return self.create_master_key and not self._shared_storage

    @staticmethod
    def split(value: str) -> list[str]:
        return [part.strip() for part in value.split(",") if part.strip()]
