"""structlog setup: a console renderer for humans, JSON lines with TUSD_LOG_FORMAT=json.

Context (request_id, upload_id) is carried in contextvars and in bound loggers, so every
line of one request can be found with one filter.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO, cast

import structlog


class _CurrentStderr:
    """``sys.stderr`` as it is at each write, not as it was when logging was configured: a caller
    that swaps the stream afterwards (pytest's capture around an in-process CLI call) would
    otherwise leave every cached logger writing to a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(fmt: str = "console", level: str = "info") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if fmt == "json":  # the traceback as one string field of the JSON object
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:  # plain text: no colour codes in a file or a journal, the traceback under the line
        processors.append(
            structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
        )
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # one write() per line (PrintLogger makes two: the message, then the newline)
        logger_factory=structlog.WriteLoggerFactory(file=cast(TextIO, _CurrentStderr())),  # write and flush only
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations: tusd_py.db logs database_migrated
