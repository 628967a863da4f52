"""The receiver's verification code in docs/operations.md ("Webhooks") works: run as it is written,
it accepts what the dispatcher signs and refuses a replay, another secret and a changed body."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tusd_py.webhooks import signing

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
SECRET = "receiver-docs-secret-0123"


@pytest.fixture(scope="module")
def verify() -> Callable[..., dict[str, Any]]:
    section = DOCS.read_text().split("\n## Webhooks\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1, "the Webhooks section has one Python block"
    namespace: dict[str, Any] = {}
    exec(compile(blocks[0], str(DOCS), "exec"), namespace)  # the documentation's own code
    function: Callable[..., dict[str, Any]] = namespace["verify"]
    return function


def delivery(sent: float, body: bytes = b'{"event":"media.ready","id":"e1"}') -> tuple[dict[str, str], bytes]:
    return signing.headers(SECRET, "media.ready", "e1", body, sent), body


def test_it_accepts_a_delivery_the_dispatcher_signed(verify: Callable[..., dict[str, Any]]) -> None:
    headers, body = delivery(time.time())
    assert verify(SECRET, headers, body) == {"event": "media.ready", "id": "e1"}


def test_it_refuses_a_replay_another_secret_and_a_changed_body(verify: Callable[..., dict[str, Any]]) -> None:
    headers, body = delivery(time.time() - 600)
    with pytest.raises(ValueError, match="window"):
        verify(SECRET, headers, body)
    headers, body = delivery(time.time())
    with pytest.raises(ValueError, match="signature"):
        verify("another-secret-of-some-length", headers, body)
    with pytest.raises(ValueError, match="signature"):
        verify(SECRET, headers, body.replace(b"e1", b"e2"))
    with pytest.raises(ValueError, match="timestamp"):
        verify(SECRET, {**headers, signing.TIMESTAMP_HEADER: "soon"}, body)
