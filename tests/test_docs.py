"""docs/ stays true: the configuration reference is exactly what the settings classes say."""

from __future__ import annotations

from pathlib import Path

from tusd_py.configdoc import render
from tusd_py.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_current() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == render(), "docs/configuration.md is stale: run `make docs`"


def test_every_server_setting_is_documented_with_a_description() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"
        assert f"`TUSD_{name.upper()}`" in text
