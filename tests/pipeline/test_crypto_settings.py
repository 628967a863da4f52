"""CryptoSettings -> key ring: the embedded key file, production refusals, previous keys, the
URL signing secret, the local rotation step; and RangeDecryptor, which delivery streams with."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.crypto.access import RangeDecryptor
from pipeline.crypto.envelope import HEADER_SIZE, IntegrityError, encrypt_bytes
from pipeline.crypto.keyring import load_local_keys, local_ring, new_local_key, retire_local_key, signing_secret
from pipeline.crypto.keys import KeyConfigError, KeyFileError, MissingKeyError, kek_id_for
from pipeline.crypto.settings import CryptoSettings


def settings(tmp_path: Path, *, shared_storage: bool = False, **values: object) -> CryptoSettings:
    """The crypto section placed as the application places it: key file under ``tmp_path``."""
    return CryptoSettings(**values).placed(tmp_path, shared_storage=shared_storage)  # type: ignore[arg-type]


def test_the_embedded_default_creates_the_key_file_once_0600_and_reuses_it(tmp_path: Path) -> None:
    first = local_ring(settings(tmp_path))
    path = tmp_path / "keys" / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_ring(settings(tmp_path)).key_id == first.key_id  # reused, not regenerated
    path.write_text(path.read_text().replace("key=", "key=00"))
    with pytest.raises(KeyFileError, match="not regenerated"):
        local_ring(settings(tmp_path))


@pytest.mark.parametrize("values", [{"shared_storage": True}, {"create_master_key": False}])
def test_production_never_creates_a_key(tmp_path: Path, values: dict[str, object]) -> None:
    with pytest.raises(MissingKeyError, match="TUSD_MASTER_KEY"):
        local_ring(settings(tmp_path, **values))
    assert not (tmp_path / "keys").exists()


def test_master_key_setting_wins_and_previous_keys_only_unwrap(tmp_path: Path) -> None:
    active, old_env, old_file = os.urandom(32), os.urandom(32), os.urandom(32)
    from pipeline.crypto.keyring import write_key_file

    write_key_file(tmp_path / "keys" / "previous" / "x.key", old_file, replace=False)
    ring = local_ring(settings(tmp_path, master_key=active.hex(), previous_master_keys=old_env.hex()))
    assert ring.key_id == kek_id_for(active)
    assert set(ring.key_ids) == {kek_id_for(k) for k in (active, old_env, old_file)}
    assert not (tmp_path / "keys" / "master.key").exists()


def test_signing_secret_is_set_or_derived_and_required_with_kms(tmp_path: Path) -> None:
    assert signing_secret(settings(tmp_path, url_signing_secret="s" * 16)) == b"s" * 16
    with pytest.raises(ValidationError, match="at least 16 bytes"):  # refused at start, not at the first URL
        settings(tmp_path, url_signing_secret="s" * 15)
    with pytest.raises(KeyConfigError):  # settings built without validation are still refused
        unchecked = CryptoSettings.model_construct(url_signing_secret="short")
        signing_secret(unchecked.placed(tmp_path, shared_storage=False))
    derived = signing_secret(settings(tmp_path))
    assert len(derived) == 32 and derived == signing_secret(settings(tmp_path))
    assert derived not in (tmp_path / "keys" / "master.key").read_bytes()
    with pytest.raises(MissingKeyError, match="TUSD_URL_SIGNING_SECRET"):
        signing_secret(settings(tmp_path / "kms", kek_provider="kms", kms_key_id="arn:x"))


def test_kms_without_a_key_id_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TUSD_KMS_KEY_ID: required with TUSD_KEK_PROVIDER=kms"):
        settings(tmp_path, kek_provider="kms")


def test_local_rotation_keeps_the_old_key_until_retired(tmp_path: Path) -> None:
    conf = settings(tmp_path)
    before = local_ring(conf).key_id
    old, new = new_local_key(conf)
    assert old == before != new == local_ring(conf).key_id
    assert old in local_ring(conf).key_ids and (tmp_path / "keys" / "previous" / f"{old}.key").exists()
    assert set(load_local_keys(conf).previous) == {old}
    assert retire_local_key(conf, old) and old not in local_ring(conf).key_ids
    assert not retire_local_key(conf, old)
    with pytest.raises(KeyConfigError, match="--rewrap"):
        new_local_key(settings(tmp_path, master_key=os.urandom(32).hex()))


@pytest.mark.parametrize("length", [0, 1, 99, 100, 101, 1000])
def test_range_decryptor_opens_any_run_of_frames(length: int) -> None:
    key, frame = os.urandom(32), 100
    data = os.urandom(length)
    blob = encrypt_bytes(data, key, "obj", frame_size=frame)
    dec = RangeDecryptor(key, "obj", blob[:HEADER_SIZE], len(blob))
    assert dec.length == length and dec.last_index == length // frame
    rng = random.Random(length)
    for _ in range(20):
        first = rng.randrange(dec.last_index + 1)
        count = rng.randrange(1, dec.last_index - first + 2)
        offset, size = dec.span(first, count)
        assert dec.open(first, blob[offset : offset + size]) == data[first * frame : (first + count) * frame]
    with pytest.raises(IntegrityError):
        RangeDecryptor(key, "obj", blob[:HEADER_SIZE], len(blob) - 1)  # truncated: caught before any frame
    with pytest.raises(IntegrityError):
        RangeDecryptor(key, "other", blob[:HEADER_SIZE], len(blob)).open(0, blob[HEADER_SIZE : HEADER_SIZE + 116])
