"""Fixtures of the browser tests: one server, one throttling proxy and one Chromium per module;
a fresh browser context (cookies, localStorage) per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.process import ServerProcess
from tests.pipeline.media import Clip, make_clip

from .browser import CHROMIUM, CHROMIUM_ARGS, ThrottleProxy, proxy_to, start_server


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("web-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def web_proxy(web_server: ServerProcess) -> Iterator[ThrottleProxy]:
    with proxy_to(web_server.port) as proxy:
        yield proxy


@pytest.fixture
def throttle(web_proxy: ThrottleProxy) -> Iterator[ThrottleProxy]:
    """The proxy, reset to full speed after the test."""
    try:
        yield web_proxy
    finally:
        web_proxy.rate = None


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make services` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(chromium: Any) -> Iterator[Any]:
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(20_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: web-artifacts<N>/ under pytest's base temporary directory."""
    return tmp_path_factory.mktemp("web-artifacts")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Clips to play, and a large one (lossless, about 5 MB) that takes seconds through the
    throttled proxy; all made with PyAV here."""
    folder = tmp_path_factory.mktemp("web-clips")
    made = {
        "play": Clip("holiday.mp4", 640, 360, seconds=4.0),
        "short": Clip("short.mp4", 320, 240, seconds=2.0),
        "large": Clip("large.mp4", 640, 360, seconds=6.0, acodec=None, options=(("preset", "ultrafast"), ("crf", "0"))),
    }
    return {name: Path(make_clip(str(folder / clip.filename), clip)) for name, clip in made.items()}
