"""Encryption at rest and secure delivery; docs/encryption.md is the full story.

* ``keys``      KEK providers (``LocalKEK``, ``KeyRing``), wrapped data keys, the master key file
* ``kms``       ``KmsKEK``: AWS KMS through aiobotocore (import it from ``pipeline.crypto.kms``)
* ``envelope``  chunked AES-256-GCM for stored objects: the format, streaming
* ``access``    stored envelope objects in pieces: byte ranges, ranged streaming, files
* ``segments``  HLS AES-128 segments and ``EXT-X-KEY`` playlists
* ``signing``   signed, expiring URLs

Pure: ``cryptography`` only (``kms`` adds botocore). No aiohttp, Redis or PyAV.
"""

from .access import FrameSpan, RangeDecryptor, decrypt_file, decrypt_range, encrypt_file, plaintext_range_to_frames
from .envelope import (
    DEFAULT_FRAME_SIZE,
    Decryptor,
    Encryptor,
    IntegrityError,
    ciphertext_size,
    decrypt_bytes,
    encrypt_bytes,
    plaintext_size,
)
from .keys import (
    CryptoError,
    KeyConfigError,
    KeyEncryptionKey,
    KeyFileError,
    KeyProviderError,
    KeyProviderUnavailable,
    KeyRing,
    LocalKEK,
    MissingKeyError,
    UnknownKeyError,
    UnwrapError,
    WrappedKey,
    derive_key,
    kek_id_for,
    load_or_create_key_file,
    local_kek,
    parse_master_key,
    rewrap,
)
from .segments import SegmentError, decrypt_segment, encrypt_segment, key_tag, rewrite_media_playlist, segment_iv
from .signing import BadSignature, ExpiredSignature, SignatureError, sign_query, sign_url, verify

__all__ = [
    "DEFAULT_FRAME_SIZE",
    "BadSignature",
    "CryptoError",
    "Decryptor",
    "Encryptor",
    "ExpiredSignature",
    "FrameSpan",
    "IntegrityError",
    "KeyConfigError",
    "KeyEncryptionKey",
    "KeyFileError",
    "KeyProviderError",
    "KeyProviderUnavailable",
    "KeyRing",
    "LocalKEK",
    "MissingKeyError",
    "RangeDecryptor",
    "SegmentError",
    "SignatureError",
    "UnknownKeyError",
    "UnwrapError",
    "WrappedKey",
    "ciphertext_size",
    "decrypt_bytes",
    "decrypt_file",
    "decrypt_range",
    "decrypt_segment",
    "derive_key",
    "encrypt_bytes",
    "encrypt_file",
    "encrypt_segment",
    "kek_id_for",
    "key_tag",
    "load_or_create_key_file",
    "local_kek",
    "parse_master_key",
    "plaintext_range_to_frames",
    "plaintext_size",
    "rewrap",
    "rewrite_media_playlist",
    "segment_iv",
    "sign_query",
    "sign_url",
    "verify",
]
