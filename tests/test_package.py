"""Packaging promises: a light import, and the layout the design card names."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_does_not_pull_tensorrt_or_cuda():
    # torch itself imports cuda-python's bindings when they are installed; wno_edge adds none.
    code = (
        "import sys, torch; gpu = lambda: {m for m in sys.modules if m.split('.')[0] in "
        "('tensorrt', 'cuda', 'pycuda')}; before = gpu(); import wno_edge, wno_edge.cli; "
        "bad = sorted(gpu() - before); print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_no_top_level_export_runtime_or_models_package_is_installed():
    code = "import importlib.util as u; print([n for n in ('export', 'runtime', 'models') if u.find_spec(n)])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert out.stdout.strip() == "[]"


def test_layout():
    for folder in ("wno_edge", "export", "runtime", "models", "docker", "tests"):
        assert (ROOT / folder).is_dir(), folder


# ---- the runtime-only install (issue 13, item 17) ------------------------------------------
HEAVY = ("torch", "scipy", "h5py", "matplotlib", "onnx", "onnxruntime", "tensorrt")


def _requirement_name(req: str) -> str:
    import re

    return re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0].lower()


def test_core_dependencies_are_the_runtime_only():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_requirement_name(r) for r in project["dependencies"]}
    assert core <= {"numpy", "typer", "rich"}, core
    extras = {k: {_requirement_name(r) for r in v} for k, v in project["optional-dependencies"].items()}
    assert "onnxruntime" in extras["onnxruntime"] and "onnxruntime-gpu" in extras["onnxruntime-gpu"]
    assert "onnxruntime-gpu" not in extras["all"]  # never both: they overwrite each other
    assert "torch" in extras["train"] and {"torch", "onnx"} <= extras["export"] and "matplotlib" in extras["plots"]


_BLOCKER = """
import importlib.abc, sys
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Blocker())
"""


def _run_without(blocked, body: str, tmp_path):
    code = f"BLOCKED = {tuple(blocked)!r}\n" + _BLOCKER + body
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)


def test_a_runtime_only_install_runs_onnx_without_torch_and_says_what_is_missing(tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.full((1, 1, 1, 1), 2.0, np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])],
        [w],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), tmp_path / "m.onnx")
    run_onnx = (
        "import numpy as np; from wno_edge import runtime\n"
        "with runtime.load('m.onnx', backend='onnxruntime') as s:\n"
        "    print(s.run(np.ones((1, 1, 4, 4), np.float32)).sum())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in " + repr(HEAVY) + "))\n"
    )
    # numpy + onnxruntime: the runtime works and imports nothing heavy besides onnxruntime.
    out = _run_without([m for m in HEAVY if m != "onnxruntime"], run_onnx, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == "32.0" and "torch" not in out.stdout, out.stdout
    # numpy alone: one clear line naming both ONNX Runtime extras.
    out = _run_without(
        HEAVY,
        "from wno_edge.errors import WNOEdgeError\ntry:\n    "
        + run_onnx.replace("\n", "\n    ")
        + "\nexcept WNOEdgeError as e:\n    print('error:', e)\n",
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "wno-edge[onnxruntime]" in out.stdout and "wno-edge[onnxruntime-gpu]" in out.stdout, out.stdout
    # The command line works and names the extra a command needs.
    cli = (
        "from wno_edge.cli import main\n"
        "print(main(['--version']))\n"
        "print(main(['data', 'generate', 'darcy', '-n', '1', '-o', 'x.h5']))\n"
        "print(main(['train', '--data', 'x.h5', '-o', 'm.pt']))\n"
    )
    out = _run_without(HEAVY, cli, tmp_path)
    assert out.stdout.split()[-3:] == ["0", "1", "1"], out
    assert "pip install 'wno-edge[data]'" in out.stderr and "pip install 'wno-edge[train]'" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_pip_resolves_a_plain_install_to_the_runtime_only(tmp_path):
    """`pip install .` without extras, resolved by pip itself (dry run, pure-Python build)."""
    import json
    import os

    report = tmp_path / "report.json"
    env = {**os.environ, "WNO_EDGE_SKIP_NATIVE": "1"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            str(report),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert {"wno-edge", "numpy"} <= names and not names & {*HEAVY, "onnxruntime-gpu", "nvidia-cudnn-cu12"}, names


# ---- the native build (issue 13, item 19) ---------------------------------------------------
def _build_backend():
    import importlib.util

    spec = importlib.util.spec_from_file_location("wno_edge_build_backend", ROOT / "tools" / "build_backend.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cmake_and_ninja_are_build_requirements_only_where_missing(tmp_path, monkeypatch):
    import tomllib

    system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    assert system["build-backend"] == "build_backend" and system["backend-path"] == ["tools"]
    backend = _build_backend()
    monkeypatch.setenv("PATH", str(tmp_path))  # neither cmake nor ninja on PATH
    monkeypatch.delenv("WNO_EDGE_SKIP_NATIVE", raising=False)
    assert backend.native_build_requires() == ["cmake>=3.18", "ninja>=1.10"]
    old = tmp_path / "cmake"
    old.write_text("#!/bin/sh\necho 'cmake version 3.10.2'\n")
    old.chmod(0o755)
    assert backend.native_build_requires() == ["cmake>=3.18", "ninja>=1.10"]  # too old
    monkeypatch.setenv("WNO_EDGE_SKIP_NATIVE", "1")  # the pure-Python opt-out needs neither
    assert backend.native_build_requires() == []


def test_make_reinstalls_when_the_native_sources_change(tmp_path):
    import os
    import shutil

    if shutil.which("make") is None:
        pytest.skip("no make")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    stamp = venv / ".wno-edge-installed"
    stamp.touch()

    def up_to_date() -> bool:
        return subprocess.run(["make", "-q", "install", f"VENV={venv}"], cwd=ROOT, capture_output=True).returncode == 0

    assert up_to_date()
    source = next((ROOT / "runtime" / "src").rglob("*.cpp"))
    before = source.stat().st_mtime
    os.utime(stamp, (before - 10, before - 10))  # the C++ changed after the last install
    assert not up_to_date()


def test_make_installs_the_cpu_torch_here_or_from_pytorchs_cpu_index(tmp_path):
    import shutil

    if shutil.which("make") is None:
        pytest.skip("no make")

    def plan(*args):
        return subprocess.run(
            ["make", "-n", "install", f"VENV={tmp_path / 'venv'}", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    here = plan()
    assert "pip install --quiet torch==2.13.0" in here and "--index-url" not in here  # the local CPU wheel
    assert "pip install --quiet -e '.[all,test,dev]'" in here
    elsewhere = plan("TORCH_INDEX=https://download.pytorch.org/whl/cpu")
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in elsewhere


def test_an_install_with_the_kernel_carries_the_engine_too():
    """setup.py declares every library CMake writes into wno_edge/_native: an install that
    has the kernel has the engine (an editable install once copied only the first)."""
    from wno_edge import native
    from wno_edge.runtime import native_backend

    if not native.available()[0]:
        pytest.skip("no native build in this install")
    assert native_backend.available()[0], native_backend.available()[1]
