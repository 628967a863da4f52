"""The direct-upload section of the settings (a leaf module: ``tusd_py.settings`` imports it)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DirectSettings(BaseSettings):
    """Direct-to-S3 uploads: the server signs, the client sends the bytes straight to the bucket."""

    model_config = SettingsConfigDict(env_prefix="TUSD_", extra="forbid")

    direct_uploads: bool = Field(
        default=False,
        description="Serve the S3 signing API under /s3/ (Uppy's @uppy/aws-s3 with a Companion URL): clients "
        "upload parts to presigned bucket URLs. Needs TUSD_STORE=s3 and a bucket CORS rule (tusd-py s3 cors).",
    )
    direct_url_ttl: int = Field(
        default=600, ge=60, le=3600, description="Seconds a presigned part or PUT URL is valid (1 to 60 minutes)."
    )
    direct_expiry: float = Field(
        default=86400.0,
        gt=0,
        description="Seconds an unfinished direct upload lives; then the sweeper aborts its multipart upload.",
    )
    direct_sse: Literal["", "AES256", "aws:kms"] = Field(
        default="",
        description="Server-side encryption of the raw objects clients upload: '' (the bucket's default), "
        "'AES256' (SSE-S3) or 'aws:kms' (SSE-KMS, with TUSD_DIRECT_SSE_KMS_KEY_ID or the account's S3 key).",
    )
    direct_sse_kms_key_id: str = Field(
        default="", description="With TUSD_DIRECT_SSE=aws:kms: the KMS key (id or ARN); empty = aws/s3."
    )

    @model_validator(mode="after")
    def _kms_key_needs_kms(self) -> Self:
        if self.direct_sse_kms_key_id and self.direct_sse != "aws:kms":
            raise ValueError("TUSD_DIRECT_SSE_KMS_KEY_ID needs TUSD_DIRECT_SSE=aws:kms")
        return self
