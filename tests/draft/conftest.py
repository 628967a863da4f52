"""An in-process server on a real port (the draft client reads raw responses, 104s included),
on the file store and on S3 (moto over HTTP)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.moto_server import MOTO_MIN_PART_SIZE
from tusd_py.app import create_app
from tusd_py.settings import Settings

StartServer = Callable[..., Awaitable[Any]]


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def draft_settings(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., Settings]:
    def make(**extra: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": str(tmp_path / "data"), "store": store}
        if store == "s3":
            values |= {
                "s3_bucket": request.getfixturevalue("s3_bucket"),
                "s3_endpoint_url": request.getfixturevalue("moto_endpoint"),
                "s3_path_style": True,
                "s3_min_part_size": MOTO_MIN_PART_SIZE,
                "master_key": os.urandom(32).hex(),  # an S3 server starts only with its key
            }
        return Settings.from_flat(**(values | extra))

    return make


@pytest.fixture
def start_server(aiohttp_server: Any, draft_settings: Callable[..., Settings]) -> StartServer:
    async def start(**extra: Any) -> Any:
        return await aiohttp_server(create_app(draft_settings(**extra), background=False))

    return start
