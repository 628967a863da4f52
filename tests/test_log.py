"""Logging (issue 2): console lines for humans (structlog's ConsoleRenderer, no colours), JSON lines
with TUSD_LOG_FORMAT=json, each bound to its upload and request, exceptions with their traceback,
debug hidden at info.

Each case runs in its own interpreter: configure_logging() sets process-wide structlog state
(and caches loggers) that the other tests must not inherit."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_SCRIPT = """
import sys, structlog
from tusd_py.log import configure_logging
configure_logging(sys.argv[1], "info")
structlog.contextvars.bind_contextvars(request_id="r1")
log = structlog.get_logger("tusd_py.test").bind(upload_id="u1")
log.debug("chunk_write_start", offset=0)
log.info("upload_created", size=5)
log.warning("job_failed", reason="not a media file", attempt=2)
try:
    1 / 0
except ZeroDivisionError:
    log.exception("request_crashed", method="PATCH")
"""


def _run(fmt: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", _SCRIPT, fmt], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # logs go to stderr
    return done.stderr.splitlines()


def test_json_lines_carry_the_upload_the_request_and_the_traceback() -> None:
    lines = [json.loads(line) for line in _run("json")]
    assert [line["event"] for line in lines] == ["upload_created", "job_failed", "request_crashed"]  # no debug
    created, failed, crashed = lines
    assert (failed["reason"], failed["attempt"]) == ("not a media file", 2)
    assert (created["upload_id"], created["request_id"], created["level"], created["size"]) == ("u1", "r1", "info", 5)
    assert created["timestamp"].endswith("Z")
    assert crashed["level"] == "error" and crashed["method"] == "PATCH"
    assert "Traceback" in crashed["exception"] and "ZeroDivisionError" in crashed["exception"]


@pytest.mark.parametrize("fmt", ["console"])
def test_console_lines_are_for_humans_with_the_traceback(fmt: str) -> None:
    lines = _run(fmt)
    text = "\n".join(lines)
    assert "chunk_write_start" not in text  # debug hidden at info
    assert "\x1b[" not in text  # no colour codes: the lines go to files and journals
    created = next(line for line in lines if "upload_created" in line)
    assert "[info" in created and "upload_id=u1" in created and "request_id=r1" in created and "size=5" in created
    failed = next(line for line in lines if "job_failed" in line)
    assert "[warning  ]" in failed and "attempt=2" in failed
    assert "reason='not a media file'" in failed  # quoted where the value has spaces, so lines stay parseable
    crashed_at = next(i for i, line in enumerate(lines) if "request_crashed" in line)
    assert "[error" in lines[crashed_at] and "method=PATCH" in lines[crashed_at]
    rest = "\n".join(lines[crashed_at:])
    assert "Traceback" in rest and "ZeroDivisionError: division by zero" in rest
    with pytest.raises(ValueError):
        json.loads(created)  # not JSON
