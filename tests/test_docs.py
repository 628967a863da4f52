"""docs/ stays true: the configuration reference is exactly what the settings model says."""

from __future__ import annotations

import re
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


# Names of the docs that are no setting: a switch of the test suite, and families (``TUSD_S3_*``).
NOT_SETTINGS = {"TUSD_UPDATE_DOCS_IMAGES", "TUSD_", "TUSD_S3_"}


def test_every_variable_the_docs_name_is_a_setting() -> None:
    """A renamed or removed setting leaves no stale name in README.md or docs/ (an operator who
    sets it would be refused at start, or worse, ignored where ``extra`` allows it)."""
    declared = {f"TUSD_{name.upper()}" for section in Settings.sections().values() for name in section.model_fields}
    pages = [ROOT / "README.md", ROOT / "docker" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    stale = {
        f"{page.relative_to(ROOT)}: {name}"
        for page in pages
        if page.is_file()
        for name in re.findall(r"TUSD_[A-Z0-9_]*", page.read_text())
        if name not in declared and name not in NOT_SETTINGS
    }
    assert not stale, sorted(stale)
