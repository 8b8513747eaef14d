"""User-facing errors: the CLI prints these as one line and exits non-zero."""


class WNOEdgeError(Exception):
    """A problem with the user's input (file, option, data), not a bug in wno-edge."""


# Which extra of `pip install wno-edge[...]` brings each optional import (pyproject.toml).
EXTRA_OF = {
    "torch": "train",
    "h5py": "data",
    "scipy": "data",
    "onnx": "export",
    "onnxruntime": "onnxruntime",
    "matplotlib": "plots",
    "tensorrt": "tensorrt",
    "cuda": "tensorrt",
}


def missing_dependency(exc: ImportError, what: str) -> WNOEdgeError | None:
    """The one-line error for `what` failing on an optional dependency that is not installed,
    or None when `exc` is about anything else (then it is a bug to report, not a user error)."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    if name not in EXTRA_OF:
        return None
    return WNOEdgeError(f"{what} needs {name}, which is not installed: pip install 'wno-edge[{EXTRA_OF[name]}]'")
