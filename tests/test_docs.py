"""docs/ stays true: the configuration reference is exactly what the settings model says."""

from __future__ import annotations

from pathlib import Path

from tusd_py.configdoc import TITLES, render
from tusd_py.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_current() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == render(), "docs/configuration.md is stale: run `make docs`"


def test_every_setting_is_documented_with_a_description() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for section_name, section in Settings.sections().items():
        assert section_name in TITLES, f"section {section_name} has no title in the reference"
        for name, field in section.model_fields.items():
            assert field.description, f"setting {section_name}.{name} has no description"
            assert f"| `TUSD_{name.upper()}` |" in text


def test_every_variable_is_declared_once() -> None:
    """One environment configures every process: a variable in two sections could disagree."""
    seen: dict[str, str] = {}
    for section_name, section in Settings.sections().items():
        for name in section.model_fields:
            assert name not in seen, f"TUSD_{name.upper()} is declared by {seen[name]} and {section_name}"
            seen[name] = section_name
