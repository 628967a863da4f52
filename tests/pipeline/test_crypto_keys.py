"""Key hierarchy: wrapping data keys under a KEK, the key ring and rotation, the master key file."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from pipeline.crypto.keys import (
    KeyConfigError,
    KeyEncryptionKey,
    KeyFileError,
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

CTX = {"asset": "upload-1"}


def kek(name: str) -> LocalKEK:
    return LocalKEK(name, os.urandom(32))


def test_local_kek_satisfies_the_protocol() -> None:
    provider: KeyEncryptionKey = kek("a")  # checked by mypy as well
    ring: KeyEncryptionKey = KeyRing([kek("b")])
    assert (provider.key_id, ring.key_id) == ("a", "b")


async def test_wrap_unwrap_round_trip_and_json() -> None:
    k = kek("k1")
    data_key, wrapped = await k.generate_data_key(CTX)
    assert len(data_key) == 32 and data_key not in wrapped.blob
    assert wrapped.kek_id == "k1"
    again = WrappedKey.from_json(wrapped.to_json())
    assert again == wrapped
    assert await k.unwrap(again, context=dict(CTX)) == data_key
    assert (await k.generate_data_key(CTX))[0] != data_key


async def test_unwrap_needs_the_same_context_and_key() -> None:
    key_bytes = os.urandom(32)
    k = LocalKEK("k1", key_bytes)
    data_key = os.urandom(32)
    wrapped = await k.wrap(data_key, context=CTX)
    for ctx in ({"asset": "upload-2"}, {}, {"asset": "upload-1", "extra": "x"}):
        with pytest.raises(UnwrapError):
            await k.unwrap(wrapped, context=ctx)
    with pytest.raises(UnwrapError):  # same id, different key bytes
        await LocalKEK("k1", os.urandom(32)).unwrap(wrapped, context=CTX)
    with pytest.raises(UnknownKeyError):
        await kek("k2").unwrap(wrapped, context=CTX)
    tampered = WrappedKey(wrapped.kek_id, wrapped.algorithm, wrapped.blob[:-1] + bytes([wrapped.blob[-1] ^ 1]))
    with pytest.raises(UnwrapError):
        await k.unwrap(tampered, context=CTX)
    with pytest.raises(UnwrapError):  # the kek id is authenticated too
        await LocalKEK("k1-renamed", key_bytes).unwrap(
            WrappedKey("k1-renamed", wrapped.algorithm, wrapped.blob), context=CTX
        )


def test_malformed_wrapped_key_json() -> None:
    for bad in ({}, {"kek_id": "a", "algorithm": "A256GCM", "blob": "not base64!"}):
        with pytest.raises(UnwrapError):
            WrappedKey.from_json(bad)


async def test_key_ring_wraps_with_active_and_unwraps_by_id() -> None:
    old, new = kek("old"), kek("new")
    wrapped_old = await old.wrap(b"k" * 32, context=CTX)
    ring = KeyRing([old, new], active="new")
    assert ring.key_id == "new" and ring.key_ids == ["old", "new"] and "old" in ring
    assert (await ring.wrap(b"x" * 32, context=CTX)).kek_id == "new"
    assert (await ring.generate_data_key(CTX))[1].kek_id == "new"
    assert await ring.unwrap(wrapped_old, context=CTX) == b"k" * 32
    with pytest.raises(UnknownKeyError, match=r"'old'.*retired"):
        await KeyRing([new]).unwrap(wrapped_old, context=CTX)
    with pytest.raises(ValueError):
        KeyRing([old], active="missing")


async def test_rotation_rewraps_then_old_kek_can_be_retired() -> None:
    old, new = kek("old"), kek("new")
    assets = {f"upload-{i}": await old.generate_data_key({"asset": f"upload-{i}"}) for i in range(3)}
    ring = KeyRing([old, new], active="new")
    rotated = {aid: await rewrap(w, ring, new, {"asset": aid}) for aid, (_, w) in assets.items()}
    assert {w.kek_id for w in rotated.values()} == {"new"}
    retired = KeyRing([new])  # the old KEK is gone
    for aid, (data_key, _) in assets.items():
        assert await retired.unwrap(rotated[aid], context={"asset": aid}) == data_key
    same = rotated["upload-0"]
    assert await rewrap(same, retired, new, {"asset": "upload-0"}) is same  # a rerun is a no-op
    with pytest.raises(UnwrapError):  # rotation does not launder a wrong context
        await rewrap(assets["upload-1"][1], ring, new, {"asset": "upload-0"})


def test_derive_key_is_deterministic_and_separated() -> None:
    data_key = os.urandom(32)
    assert derive_key(data_key, purpose="envelope") == derive_key(data_key, purpose="envelope")
    hls = derive_key(data_key, purpose="hls", length=16)
    assert len(hls) == 16 and hls != derive_key(data_key, purpose="envelope")[:16]
    assert derive_key(os.urandom(32), purpose="envelope") != derive_key(data_key, purpose="envelope")


def test_parse_master_key_hex_and_base64() -> None:
    key = os.urandom(32)
    assert parse_master_key(key.hex()) == key
    assert parse_master_key(key.hex().upper() + "\n") == key
    assert parse_master_key(base64.b64encode(key).decode()) == key
    assert parse_master_key(base64.urlsafe_b64encode(key).decode().rstrip("=")) == key
    for bad in ("", "abc", key.hex()[:-2], base64.b64encode(key[:16]).decode(), "g" * 64):
        with pytest.raises(KeyConfigError, match="TUSD_MASTER_KEY"):
            parse_master_key(bad)


def test_key_file_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "master.key"
    key = load_or_create_key_file(path, create=True)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key.hex() in path.read_text() and kek_id_for(key) in path.read_text()
    before = path.read_bytes()
    assert load_or_create_key_file(path, create=True) == key
    assert load_or_create_key_file(path, create=False) == key
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["master.key"]  # no temp file left


def test_key_file_is_never_regenerated(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = load_or_create_key_file(path, create=True)
    text = path.read_text()
    # flip the key's first byte on its own line (the header's words may hold the same two hex letters)
    flipped = text.replace(f"key={key.hex()}", f"key={bytes([key[0] ^ 1]).hex()}{key.hex()[2:]}")
    assert flipped != text
    for corrupt in ("", "garbage\n", flipped):
        path.write_text(corrupt)
        with pytest.raises(KeyFileError, match="restore it from backup"):
            load_or_create_key_file(path, create=True)
        assert path.read_text() == corrupt  # left as found
    path.write_text(text)
    unreadable = tmp_path / "dir.key"
    unreadable.mkdir()  # present but unreadable as a file (chmod does not stop root)
    with pytest.raises(KeyFileError, match="cannot read"):
        load_or_create_key_file(unreadable, create=True)
    assert unreadable.is_dir()
    assert load_or_create_key_file(path, create=True) == key


def test_missing_key_file_without_create_names_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    with pytest.raises(MissingKeyError, match="TUSD_MASTER_KEY") as info:
        load_or_create_key_file(path, create=False)
    assert "TUSD_MASTER_KEY_FILE" in str(info.value) and str(path) in str(info.value)
    assert not path.exists()


def test_local_kek_from_settings(tmp_path: Path) -> None:
    key = os.urandom(32)
    from_setting = local_kek(key.hex(), tmp_path / "unused.key", create=True)
    assert from_setting.key_id == kek_id_for(key)
    assert not (tmp_path / "unused.key").exists()  # the setting wins; no file is made
    path = tmp_path / "master.key"
    from_file = local_kek(None, path, create=True)
    assert from_file.key_id == kek_id_for(load_or_create_key_file(path, create=False))
    assert local_kek(None, path, create=False).key_id == from_file.key_id
    with pytest.raises(MissingKeyError):
        local_kek(None, None, create=True)
    assert repr(from_setting) == f"LocalKEK({kek_id_for(key)!r})"  # never the key bytes
