"""Password hashing: argon2, in its own threads, a bounded number at once."""

from __future__ import annotations

import asyncio
import threading

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from tusd_py.auth.passwords import Passwords


async def test_hash_and_verify() -> None:
    passwords = Passwords(2)
    try:
        hashed = await passwords.hash("correct horse battery")
        assert hashed.startswith("$argon2id$")
        assert await passwords.verify("correct horse battery", hashed)
        assert not await passwords.verify("wrong horse battery", hashed)
        assert not await passwords.verify("anything", "not-a-hash")  # unreadable stored hash: no match
        await passwords.waste("anything")  # an unknown email costs a verify too
    finally:
        passwords.close()


async def test_hashing_runs_off_the_loop_a_bounded_number_at_once() -> None:
    """Eight hashes with concurrency 2: never more than two threads hash at once, and the event
    loop keeps ticking while they run (a ticker advances between every two hashes finishing)."""
    running, peak, lock = 0, 0, threading.Lock()
    inner = Argon2Hasher()

    class Counting(Argon2Hasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            try:
                return inner.hash(password, salt=salt)
            finally:
                with lock:
                    running -= 1

    passwords = Passwords(2, PasswordHash((Counting(),)))
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    try:
        done_at: list[int] = []

        async def one(i: int) -> None:
            await passwords.hash(f"password-{i}")
            done_at.append(ticks)

        await asyncio.gather(*(one(i) for i in range(8)))
    finally:
        stop.set()
        await task
        passwords.close()
    assert peak == 2
    assert ticks > 8 and done_at[-1] > done_at[0]  # the loop ran while hashes were computed
