"""Rate limits (the ``limits`` library): in Redis when the server has one, so that every instance
counts together, else in this process.

What is counted (``TUSD_RATE_*``, the library's notation: ``10/minute``):

- login attempts per email and per client address (a guessing attack on one account, and one
  address trying many accounts), counted before the password is checked;
- registrations per client address;
- authenticated API requests per user, and uploads created per user (POST to the tus endpoint,
  and the direct-upload API's ``POST /s3/multipart`` and ``GET /s3/params``).

Logins and registrations are counted in a moving window (a burst at a window's edge cannot
double the rate); the per-user request counts, asked on every request, in a fixed window, one
counter increment each. Beyond a limit: 429 ``ERR_TOO_MANY_REQUESTS`` with ``Retry-After``, the
seconds until the window lets the next one through.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from ..protocol.errors import StorageUnavailable, TooManyRequests
from ..settings import Settings

KEY_PREFIX = "tusd:limits"
_WHAT = {
    "login-address": "login attempts from this address",
    "login-email": "login attempts for this email",
    "register-address": "registrations from this address",
    "api-user": "requests",
    "uploads-user": "uploads created",
}


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except StorageError as exc:
        raise StorageUnavailable(f"rate limits: storage unreachable ({exc})") from None


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        limits = settings.limits
        url = settings.redis.redis_url
        self.storage = self._storage(url)
        # In memory, the moving windows get a storage of their own: the library's in-memory storage
        # starts an expiry sweep with each count, and that sweep moves every moving-window key's
        # events through a thread; kept apart, the count of every request never pays for it.
        self.attempts_storage = self._storage(url) if not url else self.storage
        self._moving = MovingWindowRateLimiter(self.attempts_storage)
        self._fixed = FixedWindowRateLimiter(self.storage)
        self.login_email = parse(limits.rate_login_email)
        self.login_address = parse(limits.rate_login_address)
        self.register_address = parse(limits.rate_register_address)
        self.api_user = parse(limits.rate_api_user)
        self.uploads_user = parse(limits.rate_uploads_user)

    @staticmethod
    def _storage(redis_url: str) -> Storage:
        if not redis_url:
            storage = storage_from_string("async+memory://")
        else:
            uri = "async+" + redis_url if not redis_url.startswith("unix://") else "async+redis+" + redis_url
            storage = storage_from_string(uri, implementation="redispy", key_prefix=KEY_PREFIX, wrap_exceptions=True)
        assert isinstance(storage, Storage)  # the async+ schemes give the asyncio storages
        return storage

    async def _hit(self, limiter: RateLimiter, item: RateLimitItem, name: str, key: str) -> None:
        with _storage_errors():
            if await limiter.hit(item, name, key):
                return
            stats = await limiter.get_window_stats(item, name, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(f"too many {_WHAT[name]} ({item}); retry in {retry_after}s", retry_after=retry_after)

    async def login(self, email: str, address: str) -> None:
        await self._hit(self._moving, self.login_address, "login-address", address)
        await self._hit(self._moving, self.login_email, "login-email", email)

    async def register(self, address: str) -> None:
        await self._hit(self._moving, self.register_address, "register-address", address)

    async def api(self, user_id: str) -> None:
        await self._hit(self._fixed, self.api_user, "api-user", user_id)

    async def upload_created(self, user_id: str) -> None:
        await self._hit(self._fixed, self.uploads_user, "uploads-user", user_id)

    async def reset(self) -> None:
        """Forget every count (tests, and ``tusd-py users`` operators clearing a lockout)."""
        with _storage_errors():
            await self.storage.reset()
            if self.attempts_storage is not self.storage:
                await self.attempts_storage.reset()
