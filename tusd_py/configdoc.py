"""Render the configuration reference (docs/configuration.md) from the settings classes.

The descriptions live on the fields, so the reference cannot drift from the code;
tests/test_docs.py fails when the committed file differs from what this renders.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic_settings import BaseSettings

HEADER = """# Configuration reference

Every setting is an environment variable with the `TUSD_` prefix (a `.env` file is not read).
`tusd-py serve` also takes `--host`, `--port`, `--store` and `--data-dir`, which override the
environment. S3 credentials come from the usual `AWS_*` variables (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_PROFILE`).

A value that is malformed, or a combination that cannot be safe (credentialed CORS for any
origin, a short URL signing secret, TUSD_STORE=s3 without a bucket...), stops `tusd-py serve`,
`worker` and `keys` before anything starts: one line on stderr naming the variable, exit status 2.

This file is generated: `make docs` (or `tusd-py config-doc > docs/configuration.md`).
"""

# (title, "module:Class") of every settings class; optional ones are skipped if not importable.
SECTIONS = [
    ("Server (`tusd-py serve`)", "tusd_py.settings:Settings"),
    ("Processing pipeline (`tusd-py worker` and the embedded queue)", "pipeline.settings:PipelineSettings"),
    ("Encryption and delivery", "pipeline.crypto.settings:CryptoSettings"),
]


def _load(path: str) -> type[BaseSettings] | None:
    module, _, name = path.partition(":")
    try:
        cls: type[BaseSettings] = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    return cls


def _default(value: Any) -> str:
    if value == "" or value is None:
        return "(empty)"
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)


def render() -> str:
    lines = [HEADER]
    seen: set[str] = set()
    for title, path in SECTIONS:
        cls = _load(path)
        if cls is None:
            continue
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        rows = []
        for name, field in cls.model_fields.items():
            env = prefix + name.upper()
            if env in seen:
                continue  # shared settings (redis_url, s3_*) are documented once, where first seen
            seen.add(env)
            description = (field.description or "").replace("|", "\\|")
            rows.append(f"| `{env}` | `{_default(field.default)}` | {description} |")
        lines += [f"## {title}", "", "| Variable | Default | Meaning |", "|---|---|---|", *rows, ""]
    return "\n".join(lines)
