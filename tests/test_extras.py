"""errors.EXTRA_OF (the `pip install 'wno-edge[extra]'` a missing import's message names) agrees
with pyproject.toml's [project.optional-dependencies], and covers every optional import in
wno_edge/."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from wno_edge.errors import EXTRA_OF, missing_dependency

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomllib is 3.11's
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]

# Import name -> distribution name, where they differ.
DISTRIBUTION = {"cuda": "cuda-python", "neuralop": "neuraloperator"}
# Optional imports that are not EXTRA_OF's: the code catches their ImportError itself and names
# this extra in its own message (importers/neuralop.py: no reference model without neuraloperator).
HANDLED_LOCALLY = {"neuralop": "bench"}
# Installed with a core dependency (typer brings click).
CORE_TRANSITIVE = {"click"}


def requirement_name(spec: str) -> str:
    """'torch>=2.4' -> 'torch' (PEP 508 name, normalised)."""
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions(requirements: list[str]) -> set[str]:
    return {requirement_name(r) for r in requirements}


def provides(extra: str, module: str) -> bool:
    return DISTRIBUTION.get(module, module) in distributions(EXTRAS[extra])


def third_party_imports() -> dict[str, set[str]]:
    """Top-level modules imported anywhere in wno_edge/ (nested imports included), not stdlib,
    not wno_edge itself -> the files importing them."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "wno_edge").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        # Imports under `if TYPE_CHECKING:` never run: only the type checker reads them.
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
            for stmt in node.body
            for inner in ast.walk(stmt)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "wno_edge":
                    found.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    return found


@pytest.mark.parametrize("module, extra", sorted(EXTRA_OF.items()))
def test_extra_exists_and_installs_the_module(module, extra):
    assert extra in EXTRAS, f"EXTRA_OF[{module!r}] = {extra!r}: pyproject.toml has no extra {extra!r}"
    assert provides(extra, module), (
        f"EXTRA_OF[{module!r}] = {extra!r}, but that extra lists {sorted(distributions(EXTRAS[extra]))}, "
        f"not {DISTRIBUTION.get(module, module)!r}"
    )


@pytest.mark.parametrize("module, extra", sorted(HANDLED_LOCALLY.items()))
def test_locally_handled_imports_name_an_extra_that_installs_them(module, extra):
    assert extra in EXTRAS and provides(extra, module)
    assert module not in EXTRA_OF  # one place says which extra brings it


def test_every_optional_import_maps_to_an_extra():
    core = distributions(PROJECT["dependencies"]) | CORE_TRANSITIVE
    imports = third_party_imports()
    assert {"torch", "onnx", "numpy"} <= set(imports)  # the scan sees the package
    unmapped = {
        module: sorted(files)
        for module, files in imports.items()
        if DISTRIBUTION.get(module, module) not in core and module not in EXTRA_OF and module not in HANDLED_LOCALLY
    }
    assert not unmapped, f"optional imports without an extra in wno_edge.errors.EXTRA_OF: {unmapped}"


def test_every_extra_of_entry_is_imported():
    """An EXTRA_OF entry nothing imports is stale."""
    assert set(EXTRA_OF) <= set(third_party_imports())


def test_missing_dependency_names_the_extra():
    exc = ModuleNotFoundError("No module named 'h5py.foo'", name="h5py.foo")
    assert str(missing_dependency(exc, "reading data")) == (
        f"reading data needs h5py, which is not installed: pip install 'wno-edge[{EXTRA_OF['h5py']}]'"
    )
    assert missing_dependency(ModuleNotFoundError("x", name="not_a_dependency"), "x") is None
