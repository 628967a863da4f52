"""The webhooks section: a URL list needs a secret long enough to sign with, URLs must be
absolute http(s), and the backoff doubles up to its cap; ``tusd-py serve`` refuses a bad
combination with one line naming the variable (status 2), never the secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from tusd_py.settings import Settings, describe_config_error
from tusd_py.webhooks.settings import WebhookSettings

TUSD_PY = Path(sys.executable).parent / "tusd-py"
SHORT = "too-short-SECRET"[:15]


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"webhook_urls": "https://a.example/hook"}, "TUSD_WEBHOOK_SECRET"),
        ({"webhook_urls": "https://a.example/hook", "webhook_secret": SHORT}, "TUSD_WEBHOOK_SECRET"),
        ({"webhook_urls": "a.example/hook", "webhook_secret": "x" * 16}, "TUSD_WEBHOOK_URLS"),
        ({"webhook_urls": "ftp://a.example/hook", "webhook_secret": "x" * 16}, "TUSD_WEBHOOK_URLS"),
        ({"webhook_urls": "https:///hook", "webhook_secret": "x" * 16}, "TUSD_WEBHOOK_URLS"),
        ({"webhook_urls": "https://a.example/ho ok", "webhook_secret": "x" * 16}, "TUSD_WEBHOOK_URLS"),
        ({"webhook_max_attempts": 0}, "TUSD_WEBHOOK_MAX_ATTEMPTS"),
        ({"webhook_timeout": 0}, "TUSD_WEBHOOK_TIMEOUT"),
    ],
)
def test_unusable_settings_are_refused_naming_the_variable(values: dict[str, object], variable: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.from_flat(**values)
    line = describe_config_error(caught.value)
    assert line.startswith(f"{variable}: ") and SHORT not in line


def test_urls_are_split_and_the_backoff_doubles_up_to_its_cap() -> None:
    settings = WebhookSettings(
        webhook_urls=" https://a.example/h , http://10.0.0.2:8080/x ,", webhook_secret="s" * 16, webhook_backoff=5,
        webhook_backoff_max=30,
    )  # fmt: skip
    assert settings.urls == ("https://a.example/h", "http://10.0.0.2:8080/x")
    assert [settings.backoff(n) for n in range(1, 6)] == [5, 10, 20, 30, 30]
    assert WebhookSettings().urls == ()  # the default: no webhooks, no secret needed


def test_serve_refuses_urls_without_a_secret_with_one_line(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TUSD_")}
    env = {**clean, "TUSD_DATA_DIR": str(tmp_path / "data"), "TUSD_PORT": "0", "TUSD_WEBHOOK_URLS": "https://a/h"}
    done = subprocess.run([str(TUSD_PY), "serve"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()] and done.stderr.startswith("tusd-py: TUSD_WEBHOOK_SECRET")
