"""The key hierarchy: a key-encryption key (KEK) wraps per-asset data keys; data keys encrypt
content. Only wrapped data keys are ever stored. Pure: ``cryptography`` only (the web process
imports this module to unwrap keys for delivery; the KMS provider lives in ``kms.py``).

Errors::

    CryptoError
    ├── KeyConfigError               the master key setting or key file is wrong (fatal at start)
    │   ├── MissingKeyError          no key configured, or the key file does not exist
    │   └── KeyFileError             the key file is unreadable or corrupt (never regenerated)
    └── KeyProviderError             a KEK could not wrap/unwrap (``transient`` says: retry later?)
        ├── KeyProviderUnavailable   transient: KMS throttled or unreachable
        ├── UnwrapError              wrong KEK or context, or a tampered wrapped key
        └── UnknownKeyError          wrapped under a KEK that is not configured (retired?)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DATA_KEY_SIZE = 32
LOCAL_ALGORITHM = "A256GCM"


class CryptoError(Exception):
    """Base of every error raised by ``pipeline.crypto``."""


class KeyConfigError(CryptoError):
    pass


class MissingKeyError(KeyConfigError):
    pass


class KeyFileError(KeyConfigError):
    pass


class KeyProviderError(CryptoError):
    transient: ClassVar[bool] = False


class KeyProviderUnavailable(KeyProviderError):
    transient = True


class UnwrapError(KeyProviderError):
    pass


class UnknownKeyError(KeyProviderError):
    pass


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key encrypted under the KEK ``kek_id``; safe to store next to the asset."""

    kek_id: str
    algorithm: str
    blob: bytes

    def to_json(self) -> dict[str, str]:
        return {"kek_id": self.kek_id, "algorithm": self.algorithm, "blob": base64.b64encode(self.blob).decode()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WrappedKey:
        try:
            return cls(str(data["kek_id"]), str(data["algorithm"]), base64.b64decode(data["blob"], validate=True))
        except (KeyError, TypeError, binascii.Error) as exc:
            raise UnwrapError(f"malformed wrapped key: {exc!r}") from None


class KeyEncryptionKey(Protocol):
    """What a KEK provider does. ``context`` (e.g. ``{"asset": upload_id}``) is authenticated,
    not stored: unwrapping needs the very same context, so a wrapped key copied onto another
    asset's record is useless. Implementations: ``LocalKEK``, ``KeyRing``, ``kms.KmsKEK``."""

    @property
    def key_id(self) -> str: ...

    async def wrap(self, plaintext_key: bytes, *, context: dict[str, str]) -> WrappedKey: ...

    async def unwrap(self, wrapped: WrappedKey, *, context: dict[str, str]) -> bytes: ...

    async def generate_data_key(self, context: dict[str, str]) -> tuple[bytes, WrappedKey]:
        """A fresh random 32-byte data key and its wrapped form."""
        ...


def canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class LocalKEK:
    """A KEK held in memory (from ``TUSD_MASTER_KEY`` or the key file). Wrapped blob =
    nonce (12 random bytes) || AES-256-GCM(data key, AAD = canonical JSON of kek id + context)."""

    def __init__(self, key_id: str, key_bytes: bytes) -> None:
        if len(key_bytes) != 32:
            raise ValueError("a local KEK is 32 bytes (AES-256)")
        self._id = key_id
        self._aead = AESGCM(key_bytes)

    @property
    def key_id(self) -> str:
        return self._id

    def __repr__(self) -> str:  # never the key bytes
        return f"LocalKEK({self._id!r})"

    def _aad(self, context: Mapping[str, str]) -> bytes:
        return canonical_json({"kek": self._id, "context": dict(context)})

    async def wrap(self, plaintext_key: bytes, *, context: dict[str, str]) -> WrappedKey:
        nonce = secrets.token_bytes(12)
        blob = nonce + self._aead.encrypt(nonce, plaintext_key, self._aad(context))
        return WrappedKey(self._id, LOCAL_ALGORITHM, blob)

    async def unwrap(self, wrapped: WrappedKey, *, context: dict[str, str]) -> bytes:
        if wrapped.kek_id != self._id:
            raise UnknownKeyError(f"key wrapped under KEK {wrapped.kek_id!r}, this is {self._id!r}")
        if wrapped.algorithm != LOCAL_ALGORITHM or len(wrapped.blob) < 12 + 16:
            raise UnwrapError(f"not a {LOCAL_ALGORITHM} wrapped key")
        try:
            return self._aead.decrypt(wrapped.blob[:12], wrapped.blob[12:], self._aad(context))
        except InvalidTag:
            raise UnwrapError(f"cannot unwrap under {self._id!r}: wrong context or tampered key") from None

    async def generate_data_key(self, context: dict[str, str]) -> tuple[bytes, WrappedKey]:
        key = secrets.token_bytes(DATA_KEY_SIZE)
        return key, await self.wrap(key, context=context)


class KeyRing:
    """Several KEKs by id: new keys are wrapped under ``active``; unwrap picks the KEK named
    in the wrapped key. Drop a KEK from the ring to retire it (after ``keys rotate``)."""

    def __init__(self, keks: Iterable[KeyEncryptionKey], *, active: str | None = None) -> None:
        self._keks = {kek.key_id: kek for kek in keks}
        if not self._keks:
            raise ValueError("a key ring needs at least one KEK")
        self._active = active if active is not None else next(iter(self._keks))
        if self._active not in self._keks:
            raise ValueError(f"active KEK {self._active!r} is not in the ring")

    @property
    def key_id(self) -> str:
        return self._active

    @property
    def key_ids(self) -> list[str]:
        return list(self._keks)

    def __contains__(self, kek_id: object) -> bool:
        return kek_id in self._keks

    def get(self, kek_id: str) -> KeyEncryptionKey:
        try:
            return self._keks[kek_id]
        except KeyError:
            raise UnknownKeyError(
                f"data key is wrapped under KEK {kek_id!r}, which is not configured (retired too early?); "
                f"configured: {', '.join(self._keks)}"
            ) from None

    async def wrap(self, plaintext_key: bytes, *, context: dict[str, str]) -> WrappedKey:
        return await self._keks[self._active].wrap(plaintext_key, context=context)

    async def unwrap(self, wrapped: WrappedKey, *, context: dict[str, str]) -> bytes:
        return await self.get(wrapped.kek_id).unwrap(wrapped, context=context)

    async def generate_data_key(self, context: dict[str, str]) -> tuple[bytes, WrappedKey]:
        return await self._keks[self._active].generate_data_key(context)


if TYPE_CHECKING:  # conformance, checked by mypy --strict (tusd: var _ handler.DataStore = S3Store{})
    _local: type[KeyEncryptionKey] = LocalKEK
    _ring: type[KeyEncryptionKey] = KeyRing


async def rewrap(
    wrapped: WrappedKey, old: KeyEncryptionKey, new_kek: KeyEncryptionKey, context: dict[str, str]
) -> WrappedKey:
    """The step ``tusd-py keys rotate`` runs per asset: same data key, new KEK; media untouched.
    Already under ``new_kek``: returned as is, so an interrupted rotation can simply rerun."""
    if wrapped.kek_id == new_kek.key_id:
        return wrapped
    return await new_kek.wrap(await old.unwrap(wrapped, context=context), context=context)


def derive_key(data_key: bytes, *, purpose: str, length: int = 32) -> bytes:
    """Independent subkeys from one data key (HKDF-SHA256), so an asset needs one wrapped key:
    e.g. ``purpose="envelope"`` (32 bytes) and ``purpose="hls"`` (16 bytes). Handing the HLS key
    to players reveals nothing about the envelope key."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=b"tusd-py/" + purpose.encode())
    return hkdf.derive(data_key)


# -- the local master key: TUSD_MASTER_KEY or TUSD_MASTER_KEY_FILE -------------------------------

_KEY_FILE_HEADER = "# tusd-py master key (AES-256). Back it up: without it no stored asset can be decrypted.\n"


def kek_id_for(key: bytes) -> str:
    """A stable id derived from the key, the same whether it comes from the setting or the file."""
    return "local-" + hashlib.sha256(b"tusd-py kek id\0" + key).hexdigest()[:16]


def parse_master_key(text: str) -> bytes:
    """A 32-byte key written as 64 hex digits or base64 (standard or URL-safe, padding optional)."""
    text = text.strip()
    if len(text) == 64:
        with contextlib.suppress(ValueError):
            return bytes.fromhex(text)
    with contextlib.suppress(binascii.Error, ValueError):
        key = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
        if len(key) == 32:
            return key
    raise KeyConfigError("TUSD_MASTER_KEY must be 32 bytes written as 64 hex digits or base64")


def _read_key_file(path: Path) -> bytes:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read master key file {path}: {exc}") from exc
    fields = dict(
        line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#") and "=" in line
    )
    try:
        key = parse_master_key(fields.get("key", ""))
    except KeyConfigError:
        raise KeyFileError(
            f"master key file {path} is corrupt; restore it from backup. It is not regenerated: "
            "a new key would leave every stored asset unreadable"
        ) from None
    if fields.get("id", "").strip() != kek_id_for(key):  # the id doubles as a checksum of the key
        raise KeyFileError(f"master key file {path}: the key does not match its id; restore it from backup")
    return key


def write_key_file(path: Path, key: bytes, *, replace: bool) -> None:
    """Write ``key`` in the key file format, mode 0600, atomically: written in full and fsynced
    under a temporary name, then renamed (``replace``) or linked (FileExistsError if present) into
    place, so no process ever reads a half-written key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(f"{_KEY_FILE_HEADER}id={kek_id_for(key)}\nkey={key.hex()}\n")
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # FileExistsError if present: never overwrite a key by accident
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create_key_file(path: str | os.PathLike[str], *, create: bool) -> bytes:
    """The key stored at ``path``. With ``create`` (the embedded default) a missing file is created
    once, mode 0600; a present file is always reused, and an unreadable or corrupt one is an error."""
    path = Path(path)
    if path.exists():
        return _read_key_file(path)
    if not create:
        raise MissingKeyError(
            f"master key file {path} does not exist: set TUSD_MASTER_KEY (32 bytes, hex or base64) "
            "or point TUSD_MASTER_KEY_FILE at the existing key file"
        )
    key = secrets.token_bytes(32)
    # Linked into place, never renamed over: if two processes start at once, the loser reads the
    # winner's key instead of replacing it.
    try:
        write_key_file(path, key, replace=False)
    except FileExistsError:
        return _read_key_file(path)
    return key


def local_kek(master_key: str | None, key_file: str | os.PathLike[str] | None, *, create: bool) -> LocalKEK:
    """The local KEK from the settings: ``TUSD_MASTER_KEY`` wins over ``TUSD_MASTER_KEY_FILE``."""
    if master_key:
        key = parse_master_key(master_key)
    elif key_file:
        key = load_or_create_key_file(key_file, create=create)
    else:
        raise MissingKeyError("no master key: set TUSD_MASTER_KEY or TUSD_MASTER_KEY_FILE")
    return LocalKEK(kek_id_for(key), key)
