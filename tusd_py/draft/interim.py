"""The ``104 (Upload Resumption Supported)`` interim response, written on the raw connection.

aiohttp has no public call for a 1xx response, but it writes its own ``100 Continue`` the same
way (``web_urldispatcher._default_expect_handler``): the status line and headers go straight to
``request.writer`` before the final response is prepared, and ``output_size`` is reset so the
final response is measured alone. An HTTP/1.0 client cannot receive interim responses (RFC
9110 15.2), so it gets none; neither does a request whose final response has started.
"""

from __future__ import annotations

import structlog
from aiohttp import web

log = structlog.get_logger("tusd_py.draft")

STATUS_LINE = b"HTTP/1.1 104 Upload Resumption Supported\r\n"
_UNSAFE = frozenset("\r\n\x00")


def _field(name: str, value: str) -> bytes | None:
    if _UNSAFE.intersection(value) or not value.isascii():
        return None  # never split the interim response: a value that cannot be a header is left out
    return f"{name}: {value}\r\n".encode("ascii")


async def send_104(request: web.Request, headers: dict[str, str]) -> bool:
    """Write one interim response; whether it went out. A client that is gone is no error here:
    reading its body ends early next, and the store keeps what arrived."""
    if request.version < (1, 1) or request.writer is None:
        return False
    fields = [_field(name, value) for name, value in headers.items()]
    if None in fields:
        log.warning("interim_response_skipped", reason="unsafe header value")
        return False
    try:
        await request.writer.write(STATUS_LINE + b"".join(f for f in fields if f) + b"\r\n")
    except (ConnectionError, RuntimeError):  # closed transport: aiohttp raises either
        return False
    request.writer.output_size = 0
    return True
