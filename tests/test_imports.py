"""The import rules of docs/architecture.md, enforced: the protocol core knows nothing of
aiohttp, S3 or Redis, and the web layer reaches stores and state only through AppKeys."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Absolute module names imported by ``path`` (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
    return names


def _modules(subpackage: str) -> list[Path]:
    return sorted((ROOT / subpackage).rglob("*.py"))


FORBIDDEN = {
    "tusd_py/protocol": (
        "aiohttp",
        "aiobotocore",
        "botocore",
        "redis",
        "arq",
        "av",
        "tusd_py.core",
        "tusd_py.web",
        "tusd_py.stores",
        "tusd_py.state",
        "pipeline",
    ),
    "tusd_py/core": (
        "aiohttp",
        "aiobotocore",
        "botocore",
        "redis",
        "arq",
        "av",
        "tusd_py.web",
        "tusd_py.stores",
        "tusd_py.state",
        "tusd_py.app",
        "pipeline",
    ),
    "tusd_py/web": ("aiobotocore", "botocore", "redis", "arq", "av", "tusd_py.stores", "tusd_py.state", "tusd_py.app"),
    "tusd_py/stores": ("aiohttp", "tusd_py.web", "tusd_py.app", "pipeline"),
    "tusd_py/state": ("aiohttp", "tusd_py.web", "tusd_py.app", "pipeline"),
}


@pytest.mark.parametrize("subpackage", sorted(FORBIDDEN))
def test_layer_imports(subpackage: str) -> None:
    offenders = []
    for path in _modules(subpackage):
        for name in _imports(path):
            for banned in FORBIDDEN[subpackage]:
                if name == banned or name.startswith(banned + "."):
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_web_only_touches_pipeline_contract() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules("tusd_py/web")
        for name in _imports(path)
        if name.startswith("pipeline")
        and name not in ("pipeline.contract", "pipeline.crypto.signing", "pipeline.crypto.keys")
    ]
    assert not offenders, "\n".join(offenders)


def test_nothing_imports_app() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for sub in ("tusd_py", "pipeline")
        for path in _modules(sub)
        if path.name not in ("app.py", "__main__.py") and "tusd_py.app" in _imports(path)
    ]
    assert not offenders
