"""Packaging promises: a light import, and the layout the design card names."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_does_not_pull_tensorrt_or_cuda():
    # torch itself imports cuda-python's bindings when they are installed; wno_edge adds none.
    code = ("import sys, torch; gpu = lambda: {m for m in sys.modules if m.split('.')[0] in "
            "('tensorrt', 'cuda', 'pycuda')}; before = gpu(); import wno_edge, wno_edge.cli; "
            "bad = sorted(gpu() - before); print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_no_top_level_export_runtime_or_models_package_is_installed():
    code = "import importlib.util as u; print([n for n in ('export', 'runtime', 'models') if u.find_spec(n)])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert out.stdout.strip() == "[]"


def test_layout():
    for folder in ("wno_edge", "export", "runtime", "models", "docker", "tests"):
        assert (ROOT / folder).is_dir(), folder
