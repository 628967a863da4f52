"""From ``CryptoSettings`` to the key ring every process uses, and the URL signing secret.

The ring's *active* KEK wraps new data keys; the others only unwrap (an asset wrapped under a
KEK that is no longer in the ring fails with ``UnknownKeyError``). Local keys::

    <key dir>/master.key            the active key (or TUSD_MASTER_KEY instead)
    <key dir>/previous/<kid>.key    earlier keys, until ``tusd-py keys retire <kid>``
    TUSD_PREVIOUS_MASTER_KEYS       earlier keys given in the environment

With ``TUSD_KEK_PROVIDER=kms`` the active KEK is ``TUSD_KMS_KEY_ID``; earlier KMS keys and any
local keys above stay in the ring to unwrap, so moving from local keys to KMS is a rotation.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from .keys import (
    KeyConfigError,
    KeyEncryptionKey,
    KeyRing,
    LocalKEK,
    MissingKeyError,
    derive_key,
    kek_id_for,
    load_or_create_key_file,
    parse_master_key,
    write_key_file,
)
from .settings import CryptoSettings
from .signing import MIN_SECRET_SIZE


@dataclass(frozen=True)
class LocalKeys:
    """The local master keys: the active one (None with KMS) and the earlier ones, by id."""

    active: bytes | None
    previous: dict[str, bytes]

    def keks(self) -> list[LocalKEK]:
        keys = ([self.active] if self.active else []) + list(self.previous.values())
        return [LocalKEK(kek_id_for(key), key) for key in keys]


def _read_previous(settings: CryptoSettings) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for text in CryptoSettings.split(settings.previous_master_keys):
        key = parse_master_key(text)
        found[kek_id_for(key)] = key
    if settings.previous_dir.is_dir():
        for path in sorted(settings.previous_dir.glob("*.key")):
            key = load_or_create_key_file(path, create=False)
            found[kek_id_for(key)] = key
    return found


def load_local_keys(settings: CryptoSettings) -> LocalKeys:
    """Read (and in the embedded default, create once) the local master keys. Raises
    ``KeyConfigError`` with a message fit for the operator when the configuration is wrong."""
    active: bytes | None = None
    if settings.kek_provider == "local":
        if settings.master_key:
            active = parse_master_key(settings.master_key)
        else:
            path = settings.key_file
            if not path.exists() and not settings.may_create_key:
                raise MissingKeyError(
                    f"no master key: {path} does not exist and this is a production setup "
                    f"({'TUSD_STORE=s3' if settings.shared_storage else 'TUSD_CREATE_MASTER_KEY=false'}). "
                    "Set TUSD_MASTER_KEY, point TUSD_MASTER_KEY_FILE at the existing key file, or use "
                    "TUSD_KEK_PROVIDER=kms. A new key would not decrypt assets stored under the old one."
                )
            active = load_or_create_key_file(path, create=settings.may_create_key)
    previous = _read_previous(settings)
    if active is not None:
        previous.pop(kek_id_for(active), None)
    return LocalKeys(active, previous)


def local_ring(settings: CryptoSettings) -> KeyRing:
    """The ring of the local provider (sync: nothing to open)."""
    if settings.kek_provider != "local":
        raise KeyConfigError("local_ring() needs TUSD_KEK_PROVIDER=local; use open_ring()")
    keys = load_local_keys(settings)
    assert keys.active is not None
    return KeyRing(keys.keks(), active=kek_id_for(keys.active))


@asynccontextmanager
async def open_ring(settings: CryptoSettings) -> AsyncIterator[KeyRing]:
    """The key ring for these settings; with KMS, its client stays open inside the block."""
    if settings.kek_provider == "local":
        yield local_ring(settings)
        return
    if not settings.kms_key_id:
        raise MissingKeyError("TUSD_KEK_PROVIDER=kms needs TUSD_KMS_KEY_ID")
    from .kms import KmsKEK, open_kms_client

    local = load_local_keys(settings).keks()
    async with open_kms_client(region=settings.kms_region, endpoint_url=settings.kms_endpoint_url) as client:
        kms_ids = [settings.kms_key_id, *CryptoSettings.split(settings.kms_previous_key_ids)]
        keks: list[KeyEncryptionKey] = [KmsKEK(kid, client) for kid in dict.fromkeys(kms_ids)]
        yield KeyRing([*keks, *local], active=settings.kms_key_id)


def signing_secret(settings: CryptoSettings) -> bytes:
    """``TUSD_URL_SIGNING_SECRET``, or an HKDF subkey of the active local master key."""
    if settings.url_signing_secret:
        secret = settings.url_signing_secret.encode()
        if len(secret) < MIN_SECRET_SIZE:
            raise KeyConfigError(f"TUSD_URL_SIGNING_SECRET must be at least {MIN_SECRET_SIZE} bytes")
        return secret
    active = load_local_keys(settings).active
    if active is None:
        raise MissingKeyError("TUSD_URL_SIGNING_SECRET is required with TUSD_KEK_PROVIDER=kms")
    return derive_key(active, purpose="url-signing")


def new_local_key(settings: CryptoSettings) -> tuple[str, str]:
    """Step one of ``keys rotate`` for the key file: keep the active key under previous/, then
    put a fresh key in its place. Returns (old kid, new kid). Refused with TUSD_MASTER_KEY (the
    operator sets the new key there) and with KMS (rotation is done in KMS)."""
    if settings.kek_provider != "local" or settings.master_key:
        raise KeyConfigError(
            "the active KEK is not a key file: configure the new key (TUSD_MASTER_KEY or TUSD_KMS_KEY_ID), keep "
            "the old one in TUSD_PREVIOUS_MASTER_KEYS or TUSD_KMS_PREVIOUS_KEY_IDS, then run `keys rotate --rewrap`"
        )
    old = load_or_create_key_file(settings.key_file, create=False)
    kept = settings.previous_dir / f"{kek_id_for(old)}.key"
    if not kept.exists():  # first the copy: the old key is never only in the file being replaced
        write_key_file(kept, old, replace=False)
    new = secrets.token_bytes(32)
    write_key_file(settings.key_file, new, replace=True)
    return kek_id_for(old), kek_id_for(new)


def retire_local_key(settings: CryptoSettings, kek_id: str) -> bool:
    """Delete ``previous/<kek_id>.key``; False if there is no such file (e.g. a key in the env)."""
    path = settings.previous_dir / f"{kek_id}.key"
    if not path.exists():
        return False
    path.unlink()
    return True
