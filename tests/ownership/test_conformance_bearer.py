"""The tus conformance cases (tests/web, one module per tus rule) run again with accounts on: every
request carries a bearer token, on the file store and on the S3 store (moto over HTTP).

Each case of the modules below is collected here under ``<case>__<module>`` and gets this module's
``client`` and ``make_client``: the server with ``TUSD_AUTH=local`` (a user registered and
logged in through ``/auth``) and an aiohttp client that sends ``Authorization: Bearer ...`` with
every request. The uploads
therefore have an owner, and every rule must hold for that owner exactly as on an open server.
Cases that speak raw sockets without a token are left out (``RAW``): tests/ownership's hostile
tests cover the authenticated raw paths.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.web import (
    test_checksum,
    test_concat,
    test_delete,
    test_expiration,
    test_get,
    test_head,
    test_location,
    test_options,
    test_patch,
    test_post,
)
from tusd_py.app import create_app
from tusd_py.settings import Settings

from .accounts import AUTH_SETTINGS, cheap_passwords, login, s3_overrides, user_of

MODULES: tuple[ModuleType, ...] = (
    test_post,  # creation, creation-with-upload, defer-length, metadata
    test_head,
    test_patch,  # offsets, 409, chunked bodies, sizes
    test_checksum,
    test_concat,
    test_expiration,
    test_delete,  # termination
    test_get,
    test_options,
    test_location,
)
RAW: frozenset[str] = frozenset()  # cases that open their own sockets without the token
# Rules of the file store itself, not of tus: the S3 store has a ceiling (5 TiB, so Tus-Max-Size is
# always sent) and no local disk to fill.
FILE_ONLY = frozenset(
    {
        "test_options_has_no_max_size_without_a_limit__options",
        "test_a_full_disk_is_507_and_the_client_resumes_once_there_is_space__patch",
    }
)


def _collect() -> dict[str, Any]:
    cases: dict[str, Any] = {}
    for module in MODULES:
        suffix = module.__name__.rsplit(".", 1)[1].removeprefix("test_")
        for name, obj in vars(module).items():
            if name.startswith("test_") and callable(obj) and f"{name}__{suffix}" not in RAW:
                cases[f"{name}__{suffix}"] = obj
    return cases


globals().update(_collect())
finished = test_get.finished  # the GET cases' fixture (a finished upload of 100 bytes)


@pytest.fixture(params=["file", "s3"])
def store_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "file":
        return {}
    if request.node.originalname in FILE_ONLY:
        pytest.skip("a rule of the file store, not of tus")
    return s3_overrides(request.getfixturevalue("moto_endpoint"), request.getfixturevalue("s3_bucket"))


@pytest.fixture
async def make_client(
    aiohttp_client: Any, make_settings: Callable[..., Settings], store_overrides: dict[str, Any]
) -> AsyncIterator[Callable[..., Any]]:
    opened: list[TestClient[web.Request, web.Application]] = []

    async def make(**overrides: Any) -> TestClient[web.Request, web.Application]:
        settings = make_settings(**{**AUTH_SETTINGS, **store_overrides, **overrides})
        app = cheap_passwords(create_app(settings, background=False))
        anonymous: TestClient[web.Request, web.Application] = await aiohttp_client(app)
        auth = await login(anonymous)
        # the same server, another session: every request with the token
        client: TestClient[web.Request, web.Application] = TestClient(cast(TestServer, anonymous.server), headers=auth)
        await client.start_server()
        client.owner = user_of(auth)  # type: ignore[attr-defined]
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.session.close()  # the server is closed by aiohttp_client's teardown


@pytest.fixture
async def client(make_client: Callable[..., Any]) -> TestClient[web.Request, web.Application]:
    made: TestClient[web.Request, web.Application] = await make_client()
    return made


async def test_every_upload_of_this_run_has_the_callers_owner(client: Any) -> None:
    """What makes this run differ from tests/web: the uploads belong to the logged-in user."""
    from tests.web.helpers import create, upload_ids
    from tusd_py.keys import STORE

    await create(client, 5)
    ids = await upload_ids(client)
    assert ids
    for upload_id in ids:
        info = await (await client.app[STORE].get_upload(upload_id)).get_info()
        assert info.owner == client.owner and info.owner
