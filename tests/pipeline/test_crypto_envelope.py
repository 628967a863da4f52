"""The chunked AES-256-GCM envelope: round trips, every kind of tampering, byte ranges, files."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from pipeline.crypto.access import decrypt_file, decrypt_range, encrypt_file, plaintext_range_to_frames
from pipeline.crypto.envelope import (
    HEADER_SIZE,
    TAG_SIZE,
    Decryptor,
    Encryptor,
    Header,
    IntegrityError,
    ciphertext_size,
    decrypt_bytes,
    encrypt_bytes,
    plaintext_size,
)

KEY = bytes(range(32))
FRAME = 64  # tiny frames, so small objects have many of them
STEP = FRAME + TAG_SIZE


def stream_encrypt(data: bytes, rng: random.Random, *, known: bool, frame: int = FRAME) -> bytes:
    enc = Encryptor(KEY, "obj", frame_size=frame, plaintext_length=len(data) if known else None)
    out, pos = [], 0
    while pos < len(data):
        n = rng.choice([0, 1, 7, frame - 1, frame, frame + 1, 3 * frame + 5])
        out.append(enc.update(data[pos : pos + n]))
        pos += n
    return b"".join([*out, enc.finalize()])


def stream_decrypt(blob: bytes, rng: random.Random, object_id: str = "obj") -> bytes:
    dec = Decryptor(KEY, object_id)
    out, pos = [], 0
    while pos < len(blob):
        n = rng.choice([1, 5, STEP - 1, STEP, STEP + 3, 1000])
        out.append(dec.update(blob[pos : pos + n]))
        pos += n
    return b"".join([*out, dec.finalize()])


def frames_of(blob: bytes) -> tuple[bytes, list[bytes]]:
    return blob[:HEADER_SIZE], [blob[i : i + STEP] for i in range(HEADER_SIZE, len(blob), STEP)]


@pytest.mark.parametrize("length", [0, 1, FRAME - 1, FRAME, FRAME + 1, 3 * FRAME, 1000])
@pytest.mark.parametrize("known", [True, False])
def test_round_trip_and_sizes(length: int, known: bool) -> None:
    rng = random.Random(length)
    data = rng.randbytes(length)
    blob = stream_encrypt(data, rng, known=known)
    assert len(blob) == ciphertext_size(length, FRAME)
    assert plaintext_size(len(blob), FRAME) == length
    assert Header.unpack(blob).plaintext_length == (length if known else None)
    assert decrypt_bytes(blob, KEY, "obj") == data
    assert stream_decrypt(blob, rng) == data
    # A run of 16+ random bytes turning up in ciphertext by chance is ~2^-128; a
    # shorter one (1 byte in a 60-byte blob) often does, so it would prove nothing.
    if length >= 16:
        assert data not in blob


def test_last_frame_is_always_short() -> None:
    _, frames = frames_of(encrypt_bytes(b"x" * 2 * FRAME, KEY, "obj", frame_size=FRAME))
    assert [len(f) for f in frames] == [STEP, STEP, TAG_SIZE]  # an empty, tag-only last frame


def test_same_plaintext_encrypts_differently() -> None:
    assert encrypt_bytes(b"hello", KEY, "obj") != encrypt_bytes(b"hello", KEY, "obj")


def test_every_single_byte_flip_is_detected() -> None:
    blob = encrypt_bytes(os.urandom(3 * FRAME + 10), KEY, "obj", frame_size=FRAME)
    for pos in range(len(blob)):  # header, every frame body, every tag
        bad = bytearray(blob)
        bad[pos] ^= 0x01
        with pytest.raises(IntegrityError):
            decrypt_bytes(bytes(bad), KEY, "obj")
        with pytest.raises(IntegrityError):
            stream_decrypt(bytes(bad), random.Random(pos))


@pytest.mark.parametrize("known", [True, False])
def test_every_truncation_is_detected(known: bool) -> None:
    data = os.urandom(3 * FRAME)  # a multiple of the frame size: the last frame is tag-only
    blob = stream_encrypt(data, random.Random(1), known=known)
    for cut in range(len(blob)):
        with pytest.raises(IntegrityError):
            decrypt_bytes(blob[:cut], KEY, "obj")


def test_dropping_the_last_frame_is_detected() -> None:
    blob = stream_encrypt(os.urandom(3 * FRAME + 10), random.Random(2), known=False)
    head, frames = frames_of(blob)
    with pytest.raises(IntegrityError, match="truncated"):
        decrypt_bytes(head + b"".join(frames[:-1]), KEY, "obj")


def test_appended_bytes_are_detected() -> None:
    blob = encrypt_bytes(os.urandom(100), KEY, "obj", frame_size=FRAME)
    for extra in (b"\0", os.urandom(STEP), os.urandom(STEP + 1)):
        with pytest.raises(IntegrityError):
            decrypt_bytes(blob + extra, KEY, "obj")


def test_swapped_and_repeated_frames_are_detected() -> None:
    head, frames = frames_of(encrypt_bytes(os.urandom(4 * FRAME + 3), KEY, "obj", frame_size=FRAME))
    for order in ([1, 0, 2, 3, 4], [0, 2, 1, 3, 4], [0, 0, 2, 3, 4], [0, 1, 3, 2, 4]):
        with pytest.raises(IntegrityError):
            decrypt_bytes(head + b"".join(frames[i] for i in order), KEY, "obj")


def test_frames_cannot_move_between_objects_under_one_key() -> None:
    data = os.urandom(3 * FRAME)
    a = encrypt_bytes(data, KEY, "asset/a", frame_size=FRAME)
    b = encrypt_bytes(data, KEY, "asset/b", frame_size=FRAME)
    again = encrypt_bytes(data, KEY, "asset/a", frame_size=FRAME)  # same id, new nonce prefix
    head_a, frames_a = frames_of(a)
    for other in (b, again):
        head_o, frames_o = frames_of(other)
        with pytest.raises(IntegrityError):
            decrypt_bytes(head_a + frames_o[0] + b"".join(frames_a[1:]), KEY, "asset/a")
        with pytest.raises(IntegrityError):  # even with the other object's header
            decrypt_bytes(head_o + frames_a[0] + b"".join(frames_o[1:]), KEY, "asset/b")
    with pytest.raises(IntegrityError):  # a whole object served under another id
        decrypt_bytes(b, KEY, "asset/a")


def test_wrong_key_and_garbage_are_integrity_errors() -> None:
    blob = encrypt_bytes(b"secret", KEY, "obj")
    with pytest.raises(IntegrityError):
        decrypt_bytes(blob, bytes(32), "obj")
    for junk in (b"", b"TPYE", b"not an envelope at all, just some bytes"):
        with pytest.raises(IntegrityError):
            decrypt_bytes(junk, KEY, "obj")


def test_declared_length_is_enforced_on_encrypt() -> None:
    enc = Encryptor(KEY, "obj", plaintext_length=3)
    with pytest.raises(ValueError):
        enc.update(b"four")
    enc = Encryptor(KEY, "obj", plaintext_length=3)
    enc.update(b"ab")
    with pytest.raises(ValueError):
        enc.finalize()


def test_plaintext_range_to_frames() -> None:
    span = plaintext_range_to_frames(FRAME - 1, FRAME, FRAME)
    assert (span.first, span.last) == (0, 1)
    assert (span.offset, span.length) == (HEADER_SIZE, 2 * STEP)
    span = plaintext_range_to_frames(5 * FRAME, 5 * FRAME, FRAME)
    assert (span.first, span.last, span.offset, span.length) == (5, 5, HEADER_SIZE + 5 * STEP, STEP)
    with pytest.raises(ValueError):
        plaintext_range_to_frames(10, 9, FRAME)


class Store:
    """``read_at`` over a blob, recording which bytes were read."""

    def __init__(self, blob: bytes) -> None:
        self.blob, self.read = blob, 0

    def __call__(self, offset: int, length: int) -> bytes:
        chunk = self.blob[offset : offset + length]
        self.read += len(chunk)
        return chunk


@pytest.mark.parametrize("known", [True, False])
def test_random_ranges_return_exactly_the_plaintext(known: bool) -> None:
    rng = random.Random(5)
    frame = 1000  # not a power of two: off-by-ones show
    data = rng.randbytes(1024 * 1024 + 123)
    blob = encrypt_bytes(data, KEY, "big", frame_size=frame) if known else _streamed(data, frame)
    for _ in range(200):
        start = rng.randrange(len(data))
        end = min(len(data) + 50, start + rng.choice([0, 1, frame, 5 * frame, rng.randrange(200_000)]))
        store = Store(blob)
        assert decrypt_range(store, KEY, "big", start, end) == data[start : end + 1]
        touched = end // frame - start // frame + 1
        assert store.read <= HEADER_SIZE + touched * (frame + TAG_SIZE)  # only the frames it needs


def _streamed(data: bytes, frame: int) -> bytes:
    enc = Encryptor(KEY, "big", frame_size=frame)
    return b"".join([enc.update(data[i : i + 65536]) for i in range(0, len(data), 65536)] + [enc.finalize()])


@pytest.mark.parametrize("known", [True, False])
def test_ranges_at_and_past_the_end(known: bool) -> None:
    data = os.urandom(2 * FRAME)
    blob = stream_encrypt(data, random.Random(3), known=known)
    read = Store(blob)
    assert decrypt_range(read, KEY, "obj", 2 * FRAME - 1, 10**9) == data[-1:]
    assert decrypt_range(read, KEY, "obj", 2 * FRAME, 10**9) == b""
    assert decrypt_range(read, KEY, "obj", 10 * FRAME, 11 * FRAME, size=len(blob)) == b""
    assert decrypt_range(read, KEY, "obj", 0, 10**9, size=len(blob)) == data
    if known:  # the header alone says where the end is
        assert decrypt_range(read, KEY, "obj", 10 * FRAME, 11 * FRAME) == b""
    head, frames = frames_of(blob)
    cut = Store(head + b"".join(frames[:-1]))  # the tag-only last frame dropped
    with pytest.raises(IntegrityError):
        decrypt_range(cut, KEY, "obj", 2 * FRAME - 1, 10**9, size=len(cut.blob))
    with pytest.raises(IntegrityError):
        decrypt_range(cut, KEY, "obj", 2 * FRAME, 10**9)
    with pytest.raises(IntegrityError):
        decrypt_range(cut, KEY, "obj", 10 * FRAME, 11 * FRAME)
    if not known:  # reading on until the data stops after a full frame shows the cut
        with pytest.raises(IntegrityError):
            decrypt_range(cut, KEY, "obj", 2 * FRAME - 1, 10**9)
    bad_size = Store(blob + b"\0" * STEP)  # a size that disagrees with the frames
    with pytest.raises(IntegrityError):
        decrypt_range(bad_size, KEY, "obj", 0, 10**9, size=len(bad_size.blob))


def test_ranges_authenticate_only_the_frames_they_touch() -> None:
    data = os.urandom(4 * FRAME)
    bad = bytearray(encrypt_bytes(data, KEY, "obj", frame_size=FRAME))
    bad[HEADER_SIZE + 2 * STEP + 5] ^= 0xFF  # inside frame 2
    assert decrypt_range(Store(bytes(bad)), KEY, "obj", 0, FRAME - 1) == data[:FRAME]
    with pytest.raises(IntegrityError):
        decrypt_range(Store(bytes(bad)), KEY, "obj", 2 * FRAME + 10, 2 * FRAME + 20)
    with pytest.raises(IntegrityError):
        decrypt_range(Store(bytes(bad)), KEY, "other", 0, 10)


def test_files_round_trip_and_no_partial_output(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    src, enc, out = tmp_path / "plain", tmp_path / "enc", tmp_path / "out"
    src.write_bytes(data)
    assert encrypt_file(src, enc, KEY, "file", frame_size=4096) == ciphertext_size(len(data), 4096)
    assert enc.stat().st_size == ciphertext_size(len(data), 4096)
    assert decrypt_file(enc, out, KEY, "file") == len(data)
    assert out.read_bytes() == data
    bad = bytearray(enc.read_bytes())
    bad[-100] ^= 1
    enc.write_bytes(bytes(bad))
    out.unlink()
    with pytest.raises(IntegrityError):
        decrypt_file(enc, out, KEY, "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc", "plain"]  # no partial plaintext left
