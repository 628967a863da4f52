"""The auth and limits sections of the settings (a leaf module: ``tusd_py.settings`` imports it)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseSettings):
    """Who may call the server: local accounts, an external identity provider's tokens, or nobody checked."""

    model_config = SettingsConfigDict(env_prefix="TUSD_", extra="forbid")

    auth: Literal["local", "jwt", "none"] = Field(
        default="local",
        description="'local': accounts on this server (register, login, refresh sessions); 'jwt': bearer tokens "
        "of the app's own identity provider (TUSD_JWT_JWKS_URL or TUSD_JWT_PUBLIC_KEY); 'none': an open server "
        "(a warning at start).",
    )
    jwt_secret: str = Field(
        default="",
        description="HMAC secret that signs local access and refresh tokens (32+ bytes). Empty: a key file "
        "jwt.key created 0600 beside the master key (embedded default); required with TUSD_STORE=s3.",
    )
    jwt_issuer: str = Field(
        default="tusd-py", description="'iss' of tokens (issued locally, or required of external ones)."
    )
    jwt_audience: str = Field(
        default="tusd-py", description="'aud' of tokens (issued locally, or required of external ones)."
    )
    access_token_ttl: int = Field(default=900, ge=10, description="Seconds an access token is valid (15 minutes).")
    refresh_token_ttl: int = Field(
        default=30 * 86400, ge=60, description="Seconds a refresh session lives without being used (30 days)."
    )
    cookie_secure: bool = Field(
        default=True, description="Mark the refresh cookie Secure; set false only for plain-http development."
    )
    password_hash_concurrency: int = Field(
        default=2, ge=1, description="Password hashes computed at once (argon2, in threads); more wait their turn."
    )
    jwt_jwks_url: str = Field(default="", description="TUSD_AUTH=jwt: the identity provider's JWKS URL.")
    jwt_public_key: str = Field(default="", description="TUSD_AUTH=jwt: a PEM public key (instead of a JWKS URL).")
    jwt_algorithms: str = Field(
        default="RS256,ES256", description="TUSD_AUTH=jwt: accepted signature algorithms, comma-separated."
    )

    @model_validator(mode="after")
    def _jwt_source(self) -> Self:
        if self.auth == "jwt" and not (self.jwt_jwks_url or self.jwt_public_key):
            raise ValueError("TUSD_AUTH=jwt needs TUSD_JWT_JWKS_URL or TUSD_JWT_PUBLIC_KEY")
        if self.jwt_secret and len(self.jwt_secret.encode()) < 32:
            raise ValueError("TUSD_JWT_SECRET: at least 32 bytes")
        return self


class LimitSettings(BaseSettings):
    """Rate limits (the 'limits' library's notation: '5/minute', '100/hour') and per-user quotas."""

    model_config = SettingsConfigDict(env_prefix="TUSD_", extra="forbid")

    rate_login_email: str = Field(default="10/minute", description="Login attempts per email address.")
    rate_login_address: str = Field(default="30/minute", description="Login attempts per client address.")
    rate_register_address: str = Field(default="20/hour", description="Registrations per client address.")
    rate_api_user: str = Field(default="6000/minute", description="Authenticated API requests per user.")
    rate_uploads_user: str = Field(default="1000/hour", description="Uploads created per user.")
    quota_bytes: int = Field(
        default=0, ge=0, description="Bytes one user may hold (declared sizes of their uploads); 0 = no quota."
    )
    quota_uploads_in_flight: int = Field(
        default=0, ge=0, description="Unfinished uploads one user may have at once; 0 = no limit."
    )
