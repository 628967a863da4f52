"""Rate limits: counted in memory or in Redis; beyond a limit 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tusd_py.auth.ratelimit import RateLimits
from tusd_py.protocol.errors import TooManyRequests
from tusd_py.settings import Settings


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> dict[str, str]:
    return {} if request.param == "memory" else {"redis_url": request.getfixturevalue("redis_url")}


async def test_login_per_email_and_per_address(make_settings: Callable[..., Settings], storage: dict[str, str]) -> None:
    limits = RateLimits(make_settings(rate_login_email="3/minute", rate_login_address="5/minute", **storage))
    for _ in range(3):
        await limits.login("a@example.com", "10.0.0.1")
    with pytest.raises(TooManyRequests) as refused:
        await limits.login("a@example.com", "10.0.0.2")  # the email's limit, from any address
    assert refused.value.status == 429
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
    await limits.login("b@example.com", "10.0.0.1")  # other emails from the first address: its 4th
    await limits.login("c@example.com", "10.0.0.1")  # and 5th
    with pytest.raises(TooManyRequests, match="from this address"):
        await limits.login("d@example.com", "10.0.0.1")


async def test_register_api_and_uploads(make_settings: Callable[..., Settings], storage: dict[str, str]) -> None:
    settings = make_settings(
        rate_register_address="1/hour", rate_api_user="2/minute", rate_uploads_user="1/hour", **storage
    )
    limits = RateLimits(settings)
    await limits.register("10.0.0.1")
    with pytest.raises(TooManyRequests) as refused:
        await limits.register("10.0.0.1")
    assert 3500 < int(refused.value.headers["Retry-After"]) <= 3600
    await limits.register("10.0.0.2")
    await limits.api("u1")
    await limits.api("u1")
    with pytest.raises(TooManyRequests, match="too many requests"):
        await limits.api("u1")
    await limits.api("u2")
    await limits.upload_created("u1")
    with pytest.raises(TooManyRequests, match="uploads created"):
        await limits.upload_created("u1")
