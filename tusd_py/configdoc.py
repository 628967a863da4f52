"""Render the configuration reference (docs/configuration.md) from the settings model: one table
per section of ``Settings``.

The descriptions live on the fields, so the reference cannot drift from the code;
tests/test_docs.py fails when the committed file differs from what this renders.
"""

from __future__ import annotations

from typing import Any

from .settings import Settings

HEADER = """# Configuration reference

Every setting is an environment variable with the `TUSD_` prefix (a `.env` file is not read).
`tusd-py serve` also takes `--host`, `--port`, `--store` and `--data-dir`, which override the
environment. S3 credentials come from the usual `AWS_*` variables (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_PROFILE`).

Each table below is one section of the settings model (`tusd_py/settings.py`), and each variable
belongs to exactly one section: `serve`, `worker` and `keys` read them once at start and each
uses the sections it needs (the worker: storage, redis, pipeline, crypto, database, webhooks).

A value that is malformed, or a combination that cannot be safe (credentialed CORS for any
origin, a short URL signing secret, TUSD_STORE=s3 without a bucket, an unknown TUSD_LOG_LEVEL...),
stops `tusd-py serve`, `worker` and `keys` before anything starts: one line on stderr naming the
variable, exit status 2.

This file is generated: `make docs` (or `tusd-py config-doc > docs/configuration.md`).
"""

# The title of every section of ``Settings``; a section without one fails the docs test, so a new
# section cannot go undocumented.
TITLES = {
    "server": "Server (`tusd-py serve`)",
    "storage": "Storage (every process)",
    "redis": "Redis (state, locks, media records, the job queue)",
    "log": "Logging (every process)",
    "pipeline": "Processing pipeline (`tusd-py worker` and the embedded queue)",
    "crypto": "Encryption and delivery",
    "auth": "Authentication (docs/auth.md)",
    "limits": "Rate limits and quotas",
    "database": "Database (accounts, ownership, media records and their keys, the webhook outbox)",
    "webhooks": "Webhooks (docs/operations.md)",
    "direct": "Direct uploads to S3 (docs/api.md, docs/operations.md)",
}


def _default(value: Any) -> str:
    if value == "" or value is None:
        return "(empty)"
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)


def render() -> str:
    lines = [HEADER]
    for name, section in Settings.sections().items():
        prefix = str(section.model_config.get("env_prefix", "")).upper()
        rows = []
        for field_name, field in section.model_fields.items():
            description = (field.description or "").replace("|", "\\|")
            rows.append(f"| `{prefix}{field_name.upper()}` | `{_default(field.default)}` | {description} |")
        lines += [f"## {TITLES[name]}", "", "| Variable | Default | Meaning |", "|---|---|---|", *rows, ""]
    return "\n".join(lines)
