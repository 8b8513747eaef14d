"""The dependency rules of docs/architecture.md, enforced.

cli -> stages (train, onnx, tensorrt, runtime, profile) -> model and contract.
`wno_edge.runtime` and `wno_edge.contract` import neither torch nor onnxruntime, and no
module imports a layer above its own.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "wno_edge"

# Rank of each top-level part of wno_edge: a module may import only parts of a lower or
# equal rank (equal: within its own part, or peers that do not form a cycle, checked below).
# The package root is lazy (it loads only errors and the version), so importing it is free.
RANK = {
    "errors": 0,
    "util": 0,  # io, shapes, lazy: helpers for every layer
    "contract": 1,
    "winograd": 2,
    "native": 3,
    "model": 4,
    "checkpoint": 5,
    "data": 5,
    "importers": 6,  # other libraries' models -> checkpoints (reads model files, writes checkpoints)
    "train": 7,
    "onnx": 7,
    "tensorrt": 7,  # the pipeline's stages
    "runtime": 8,  # runs what the stages wrote: .onnx, engines (plugin loading), .pt (checkpoints)
    "reports": 9,  # results as data for the CLI: profile, flops, summary, conv_compare, backends, demo
    "cli": 10,
    "__init__": 11,
    "__main__": 11,
}
# What the torch-free parts may never import.
TORCH_FREE = (
    "wno_edge.runtime",
    "wno_edge.contract",
    "wno_edge.native.library",
    "wno_edge.native.abi",
    "wno_edge.runtime.onnx_metadata",
    "wno_edge.train.options",
)


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        yield name, path, rel.name == "__init__"


def _imports(name: str, path: Path, is_package: bool):
    """Every wno_edge module `name` imports (top level or inside functions)."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("wno_edge"):
                if target != "wno_edge":  # the lazy root: only its submodules count
                    yield target, node.lineno
                for alias in node.names:  # `from . import runtime` imports a module
                    yield f"{target}.{alias.name}", node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("wno_edge"):
                    yield alias.name, node.lineno


def test_every_part_has_a_rank():
    parts = {_part(name) for name, _, _ in _modules()}
    assert parts <= set(RANK), sorted(parts - set(RANK))


def test_no_module_imports_up_the_layers():
    bad = []
    for name, path, is_package in _modules():
        mine = _part(name)
        for target, line in _imports(name, path, is_package):
            theirs = _part(target)
            if theirs in RANK and RANK[theirs] > RANK[mine]:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({mine}) imports {target} ({theirs})")
    assert not bad, "\n".join(bad)


def test_winograd_does_not_call_back_into_native():
    imported = {t for t, _ in _imports("wno_edge.winograd", PACKAGE / "winograd.py", False)}
    assert not any(t.startswith("wno_edge.native") for t in imported), imported


def test_export_never_reads_training_data():
    for path in (PACKAGE / "onnx").glob("*.py"):
        imported = {t for t, _ in _imports(f"wno_edge.onnx.{path.stem}", path, path.stem == "__init__")}
        assert not any(t.startswith(("wno_edge.data", "wno_edge.train")) for t in imported), (path, imported)
        assert "h5py" not in path.read_text(), path


@pytest.mark.parametrize("module", TORCH_FREE)
def test_torch_free_modules(module):
    code = (
        f"import sys, {module}; heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'onnxruntime', 'onnx', 'h5py', 'scipy', 'matplotlib')); print(heavy); "
        "sys.exit(1 if heavy else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_architecture_page_names_every_module():
    """docs/architecture.md's owner table has a row for each part of the package, and that
    row names each of the part's modules: a module added without a word there fails."""
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    rows = {}
    for line in page.splitlines():
        cell = line.split("|")[1].strip() if line.startswith("| `wno_edge/") else ""
        if cell:
            rows[cell.strip("`").removeprefix("wno_edge/").removesuffix(".py").rstrip("/")] = line
    missing = []
    for name, path, is_package in _modules():
        part = _part(name)
        if part in ("__init__", "__main__") or name.count(".") == 1 and not is_package:
            if part not in ("__init__", "__main__") and part not in rows:
                missing.append(f"{name}: no row `wno_edge/{part}.py`")
            continue
        if part not in rows:
            missing.append(f"{name}: no row `wno_edge/{part}/`")
        elif not is_package and f"`{path.stem}`" not in rows[part] and path.stem not in ("__main__",):
            missing.append(f"{name}: not named in the row of wno_edge/{part}/")
    assert not missing, "docs/architecture.md:\n" + "\n".join(missing)
