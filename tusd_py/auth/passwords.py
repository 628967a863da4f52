"""Password hashing: argon2 (pwdlib's recommended hasher), off the event loop, a few at a time.

One argon2 hash costs tens of milliseconds of CPU and 64 MiB of memory. It runs in a small thread
pool of its own (``TUSD_PASSWORD_HASH_CONCURRENCY`` threads; argon2-cffi releases the GIL while
it works), so a flood of logins queues behind those threads while the event loop, and every
upload on it, keeps running; the default executor (DNS, file I/O of others) is never taken.

An unknown email is verified against a dummy hash of the same parameters, so a login answers in
the same time whether the account exists or not.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from pwdlib import PasswordHash

T = TypeVar("T")


class Passwords:
    def __init__(self, concurrency: int, hasher: PasswordHash | None = None) -> None:
        self.hasher = hasher or PasswordHash.recommended()
        self.concurrency = concurrency
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="password-hash")
        self._dummy: str | None = None

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def hash(self, password: str) -> str:
        return await self._run(self.hasher.hash, password)

    async def verify(self, password: str, password_hash: str) -> bool:
        """Whether ``password`` matches; a malformed stored hash counts as no match."""
        try:
            return await self._run(self.hasher.verify, password, password_hash)
        except Exception:  # pwdlib raises UnknownHashError for a hash it cannot read
            return False

    async def waste(self, password: str) -> None:
        """The work of a verify, for an email with no account (the timing of both answers is the same)."""
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        await self.verify(password, self._dummy)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
