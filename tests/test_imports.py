"""The import rules of docs/architecture.md, enforced: every import statement of ``tusd_py`` and
``pipeline`` (module level, inside functions, under ``TYPE_CHECKING``; relative ones resolved)
is checked against the page's table of allowed arrows, which this test reads. ``pipeline``
imports nothing of ``tusd_py``; the protocol core knows nothing of aiohttp, S3 or Redis."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tusd_py", "pipeline")
DOC = ROOT / "docs" / "architecture.md"


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted name as imported (a module, or a package's attribute)
    line: int

    def __str__(self) -> str:
        return f"{self.importer} (line {self.line}) imports {self.target}"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str, root: Path) -> bool:
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path, root: Path = ROOT) -> list[Import]:
    """Every import statement of ``path``, anywhere in it, as absolute names. ``from p import m``
    names ``p.m`` when that is a module of the project, else ``p``."""
    name = _module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(name, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.append(Import(name, sub if _is_module(sub, root) else module, node.lineno))
    return found


@cache
def all_imports() -> tuple[Import, ...]:
    return tuple(imp for pkg in PACKAGES for path in sorted((ROOT / pkg).rglob("*.py")) for imp in imports_of(path))


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _project(name: str) -> bool:
    return any(_within(name, pkg) for pkg in PACKAGES)


@cache
def allowed_arrows() -> dict[str, tuple[str, ...]]:
    """The table of docs/architecture.md (the one headed ``| module | may import |``): row
    module -> the modules it may import."""
    rows: dict[str, tuple[str, ...]] = {}
    table = DOC.read_text().split("| module | may import |", 1)[1].split("\n\n", 1)[0]
    for line in table.splitlines():
        match = re.fullmatch(r"\| `([\w.]+)` \| (.*) \|", line.strip())
        if match:
            row, cell = match.groups()
            rows[row] = tuple(re.findall(r"`([\w.]+)`", cell))
    return rows


def row_of(module: str) -> str | None:
    """The longest row of the table that ``module`` falls under."""
    rows = [row for row in allowed_arrows() if _within(module, row)]
    return max(rows, key=len) if rows else None


def test_the_table_is_there() -> None:
    rows = allowed_arrows()
    assert {"tusd_py.protocol", "tusd_py.core", "tusd_py.app", "pipeline"} <= set(rows)
    assert "tusd_py" not in rows["pipeline"]


def test_every_module_has_a_row() -> None:
    modules = {imp.importer for imp in all_imports()}
    missing = sorted(m for m in modules if row_of(m) is None)
    assert not missing, f"no row in docs/architecture.md for {missing}"


def test_every_arrow_is_allowed_by_the_architecture_page() -> None:
    offenders = []
    for imp in all_imports():
        if not _project(imp.target):
            continue
        row = row_of(imp.importer)
        if row is None:
            continue  # reported by test_every_module_has_a_row
        allowed = (row, *allowed_arrows()[row])
        exceptions = ("tusd_py.__main__",) if row == "tusd_py.app" else ()
        if not any(_within(imp.target, a) for a in allowed) or any(_within(imp.target, e) for e in exceptions):
            offenders.append(str(imp))
    assert not offenders, "\n".join(offenders)


def test_no_module_of_pipeline_imports_tusd_py() -> None:
    offenders = [
        str(imp) for imp in all_imports() if _within(imp.importer, "pipeline") and _within(imp.target, "tusd_py")
    ]
    assert not offenders, "\n".join(offenders)


def test_the_walk_sees_imports_inside_functions_and_type_checking(tmp_path: Path) -> None:
    """The walk itself: nothing hides from it."""
    (tmp_path / "pipeline").mkdir()
    for name in ("__init__", "contract", "records"):
        (tmp_path / "pipeline" / f"{name}.py").write_text("")
    probe = tmp_path / "pipeline" / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from tusd_py.protocol.info import UploadInfo\n"
        "def f():\n    import tusd_py.core.ports\n    from .contract import MediaRecord\n    from . import records\n"
    )
    targets = {imp.target for imp in imports_of(probe, tmp_path)}
    assert targets == {"typing", "tusd_py.protocol.info", "tusd_py.core.ports", "pipeline.contract", "pipeline.records"}


def test_nothing_but_main_imports_app() -> None:
    offenders = [
        str(imp) for imp in all_imports() if _within(imp.target, "tusd_py.app") and imp.importer != "tusd_py.__main__"
    ]
    assert not offenders, "\n".join(offenders)


def test_keys_imports_nothing_that_imports_it_back() -> None:
    """AppKeys are a leaf: handlers import keys, and keys never reaches a handler."""
    graph: dict[str, set[str]] = {}
    for imp in all_imports():
        if _project(imp.target):
            graph.setdefault(imp.importer, set()).add(imp.target)
    seen: set[str] = set()
    todo = [t for t in graph.get("tusd_py.keys", ()) if t != "tusd_py.keys"]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo += graph.get(module, ())
    assert "tusd_py.keys" not in seen


THIRD_PARTY_BANNED = {
    "tusd_py.protocol": ("aiohttp", "aiobotocore", "botocore", "redis", "arq", "av"),
    "tusd_py.core": ("aiohttp", "aiobotocore", "botocore", "redis", "arq", "av"),
    "tusd_py.web": ("aiobotocore", "botocore", "redis", "arq", "av"),
    "tusd_py.playback": ("aiobotocore", "botocore", "redis", "arq", "av"),
    "tusd_py.draft": ("aiobotocore", "botocore", "redis", "arq", "av"),
    "tusd_py.direct": ("aiobotocore", "botocore", "redis", "arq", "av"),
    "tusd_py.auth": ("aiobotocore", "botocore", "redis", "arq", "av"),
    "tusd_py.stores": ("aiohttp",),
    "tusd_py.state": ("aiohttp",),
    "pipeline.contract": ("aiohttp", "aiobotocore", "botocore", "redis", "arq", "av", "cryptography"),
    "pipeline.transcode": ("aiohttp", "aiobotocore", "botocore", "redis", "arq"),
    "pipeline.pool": ("aiohttp", "aiobotocore", "botocore", "redis", "arq", "av", "cryptography", "structlog"),
    "pipeline.s3errors": ("aiohttp",),
}


# The one module of a layer above that may use a library the rest of its layer may not: the
# refresh sessions live in Redis, and only their module translates Redis's errors.
THIRD_PARTY_EXCEPTIONS = {
    "tusd_py.auth.sessions": ("redis",),
}


def _excepted(imp: Import) -> bool:
    return any(
        _within(imp.importer, module) and any(_within(imp.target, lib) for lib in libs)
        for module, libs in THIRD_PARTY_EXCEPTIONS.items()
    )


@pytest.mark.parametrize("layer", sorted(THIRD_PARTY_BANNED))
def test_third_party_libraries_stay_in_their_layers(layer: str) -> None:
    offenders = [
        str(imp)
        for imp in all_imports()
        if _within(imp.importer, layer)
        and any(_within(imp.target, banned) for banned in THIRD_PARTY_BANNED[layer])
        and not _excepted(imp)
    ]
    assert not offenders, "\n".join(offenders)


def test_each_exception_is_needed_and_under_a_rule() -> None:
    """An exception names a library its layer bans and a module that imports it: one left behind
    after its import went would silently widen the rule."""
    imports = all_imports()
    for module, libs in THIRD_PARTY_EXCEPTIONS.items():
        layers = [layer for layer in THIRD_PARTY_BANNED if _within(module, layer)]
        assert layers, f"{module} is under no rule of THIRD_PARTY_BANNED"
        for lib in libs:
            assert any(lib in THIRD_PARTY_BANNED[layer] for layer in layers), f"{lib} is not banned for {module}"
            assert any(imp.importer == module and _within(imp.target, lib) for imp in imports), (
                f"{module} no longer imports {lib}: drop the exception"
            )


def test_the_direct_api_reaches_storage_only_through_its_ports() -> None:
    """``tusd_py.direct`` signs for the S3 store without importing it: ``DirectStorage``
    (direct/ports.py) is the only way, and app.py hands it the store's implementation."""
    offenders = [
        str(imp)
        for imp in all_imports()
        if _within(imp.importer, "tusd_py.direct") and _within(imp.target, "tusd_py.stores")
    ]
    assert not offenders, "\n".join(offenders)
