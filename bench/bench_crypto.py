"""Throughput of the chunked envelope (streaming API) next to one-shot AES-256-GCM over the same
bytes, in the same run. Target: the envelope reaches >= 0.8x of one-shot in both directions.

    .venv/bin/python bench/bench_crypto.py [--mib 256] [--feed-kib 1024] [--frame-kib 64] [--rounds 3]

Each figure is the best of ``--rounds``; the output of every run is kept alive until the next,
as a real consumer (socket, file) would hold it, so neither side gets free memory reuse.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pipeline.crypto.envelope import Decryptor, Encryptor


def best(rounds: int, fn: Callable[[], object]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        result = None  # release the previous output first, as a streaming consumer would
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256, help="plaintext size in MiB")
    parser.add_argument("--feed-kib", type=int, default=1024, help="size of each update() call")
    parser.add_argument("--frame-kib", type=int, default=64, help="envelope frame size")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    size, feed, frame = args.mib << 20, args.feed_kib << 10, args.frame_kib << 10
    data = os.urandom(size)
    key, nonce, oid = AESGCM.generate_key(256), os.urandom(12), "bench/object"
    aead = AESGCM(key)

    def one_shot_encrypt() -> bytes:
        return aead.encrypt(nonce, data, oid.encode())

    def chunked_encrypt() -> list[bytes]:
        enc, view = Encryptor(key, oid, frame_size=frame), memoryview(data)
        out = [enc.update(view[i : i + feed]) for i in range(0, size, feed)]
        out.append(enc.finalize())
        return out

    t_one_enc, sealed = best(args.rounds, one_shot_encrypt)
    t_chunk_enc, chunks = best(args.rounds, chunked_encrypt)
    assert isinstance(sealed, bytes) and isinstance(chunks, list)
    stored = b"".join(chunks)
    del chunks

    def one_shot_decrypt() -> bytes:
        return aead.decrypt(nonce, sealed, oid.encode())

    def chunked_decrypt() -> list[bytes]:
        dec, view = Decryptor(key, oid), memoryview(stored)
        out = [dec.update(view[i : i + feed]) for i in range(0, len(stored), feed)]
        out.append(dec.finalize())
        return out

    t_one_dec, _ = best(args.rounds, one_shot_decrypt)
    t_chunk_dec, plain = best(args.rounds, chunked_decrypt)
    assert isinstance(plain, list) and b"".join(plain) == data, "round trip failed"

    mb = size / 1e6
    print(f"{args.mib} MiB, {args.feed_kib} KiB feeds, {args.frame_kib} KiB frames, best of {args.rounds}")
    print(f"{'':10}{'one-shot MB/s':>15}{'chunked MB/s':>15}{'ratio':>8}")
    for name, one, chunked in (("encrypt", t_one_enc, t_chunk_enc), ("decrypt", t_one_dec, t_chunk_dec)):
        print(f"{name:10}{mb / one:15.0f}{mb / chunked:15.0f}{one / chunked:8.2f}")


if __name__ == "__main__":
    main()
