"""The native engine backend: libwno_engine.so.2 (runtime/engine, C ABI runtime/include/wno/engine.h)
runs a wno-edge fp32 export end to end on the CPU, through ctypes. Neither torch nor
onnxruntime nor onnx is imported.

The library is looked for at $WNO_EDGE_ENGINE_LIB, else wno_edge/_native/libwno_engine.so.2 (its
SONAME; `pip install -e .` builds it next to libwno_winograd.so.2). The engine verifies the weight
checksum the exporter stores, checks every shape against the file's config, allocates one
arena at load and nothing per run; calls on one session are serialised (Session's lock, and
the engine's own).
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

import numpy as np

from ..contract import CHECKSUM_PREFIX, FP32, Metadata
from ..errors import WNOEdgeError, preview
from ..native.library import ENGINE_ABI_VERSION, ENGINE_LIBRARY_FILE
from .onnx_metadata import config_from_json
from .session import Session

LIBRARY_ENV = "WNO_EDGE_ENGINE_LIB"
NATIVE_DIR = Path(__file__).resolve().parents[1] / "_native"
ABI_VERSION = ENGINE_ABI_VERSION  # WNO_ENGINE_ABI_VERSION
SUCCESS, UNSUPPORTED = 0, 4


class _Options(ctypes.Structure):  # wno_engine_options
    _fields_ = [
        ("batch", ctypes.c_int),
        ("num_threads", ctypes.c_int),
        ("pin_threads", ctypes.c_int),
        ("first_cpu", ctypes.c_int),
        ("profile", ctypes.c_int),
        ("verify_checksum", ctypes.c_int),
        ("max_memory_mb", ctypes.c_int),
    ]


_lock = threading.Lock()
_libs: dict[Path, ctypes.CDLL] = {}


def library_path() -> Path:
    env = os.environ.get(LIBRARY_ENV)
    return Path(env) if env else NATIVE_DIR / ENGINE_LIBRARY_FILE


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, c_int, c_size = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
    lib.wno_engine_abi_version.restype = c_int
    lib.wno_engine_default_options.argtypes = [ctypes.POINTER(_Options)]
    lib.wno_engine_default_options.restype = None
    lib.wno_engine_open.argtypes = [
        ctypes.c_char_p,
        ctypes.POINTER(_Options),
        ctypes.POINTER(p),
        ctypes.c_char_p,
        c_size,
    ]
    lib.wno_engine_open.restype = c_int
    lib.wno_engine_close.argtypes = [p]
    lib.wno_engine_close.restype = None
    lib.wno_engine_run.argtypes = [p, p, p]
    lib.wno_engine_run.restype = c_int
    lib.wno_engine_shape.argtypes = [p, c_int, ctypes.POINTER(c_int)]
    lib.wno_engine_shape.restype = c_int
    lib.wno_engine_rank.argtypes = [p, c_int]
    lib.wno_engine_rank.restype = c_int
    lib.wno_engine_dims.argtypes = [p, c_int, ctypes.POINTER(ctypes.c_longlong), c_int]
    lib.wno_engine_dims.restype = c_int
    lib.wno_engine_plan.argtypes = [p]
    lib.wno_engine_plan.restype = ctypes.c_char_p
    lib.wno_engine_config_json.argtypes = [p]
    lib.wno_engine_config_json.restype = ctypes.c_char_p
    lib.wno_engine_arena_bytes.argtypes = [p]
    lib.wno_engine_arena_bytes.restype = c_size
    lib.wno_engine_num_threads.argtypes = [p]
    lib.wno_engine_num_threads.restype = c_int
    lib.wno_engine_isa.restype = ctypes.c_char_p
    lib.wno_engine_stage_count.argtypes = [p]
    lib.wno_engine_stage_count.restype = c_int
    lib.wno_engine_stage_name.argtypes = [p, c_int]
    lib.wno_engine_stage_name.restype = ctypes.c_char_p
    lib.wno_engine_stage_times.argtypes = [p, ctypes.POINTER(ctypes.c_double), c_int, ctypes.POINTER(ctypes.c_longlong)]
    lib.wno_engine_stage_times.restype = c_int
    lib.wno_engine_reset_stage_times.argtypes = [p]
    lib.wno_engine_reset_stage_times.restype = None
    return lib


def load_library(path: str | os.PathLike[str] | None = None) -> ctypes.CDLL:
    """libwno_engine.so.2, loaded once per path; WNOEdgeError saying why if it cannot be."""
    target = Path(path) if path is not None else library_path()
    with _lock:
        if target in _libs:
            return _libs[target]
        if not target.is_file():
            raise WNOEdgeError(
                f"the native engine is not built ({target} not found): `pip install -e .` builds it "
                "(needs CMake and a C++17 compiler), or set $WNO_EDGE_ENGINE_LIB"
            )
        try:
            lib = _declare(ctypes.CDLL(str(target)))
        except (OSError, AttributeError) as exc:
            raise WNOEdgeError(f"cannot load the native engine {target}: {exc}") from None
        if lib.wno_engine_abi_version() != ABI_VERSION:
            raise WNOEdgeError(
                f"{target} has engine ABI {lib.wno_engine_abi_version()}, this wno_edge needs {ABI_VERSION}"
            )
        _libs[target] = lib
        return lib


def available(path: str | os.PathLike[str] | None = None) -> tuple[bool, str]:
    """(True, what was found) or (False, why not): `wno-edge info --backends`."""
    try:
        lib = load_library(path)
    except WNOEdgeError as exc:
        return False, str(exc)
    target = Path(path) if path is not None else library_path()
    return (
        True,
        f"{target.name}: runs fp32 wno-edge .onnx exports, {lib.wno_engine_isa().decode()} loops, at {target.parent}",
    )


def can_run(metadata: dict[str, str]) -> bool:
    """True if a file with these metadata_props is one the engine runs: a wno-edge fp32 export
    that carries a weight checksum (files exported before the checksum existed go to ONNX Runtime)."""
    return (
        Metadata.CONFIG in metadata
        and metadata.get(Metadata.PRECISION) == FP32
        and metadata.get(Metadata.WEIGHTS_CHECKSUM, "").startswith(CHECKSUM_PREFIX)
    )


class NativeSession(Session):
    """A wno-edge .onnx export on the native engine (CPU, fp32)."""

    backend = "native"

    def __init__(
        self,
        path: str | os.PathLike[str],
        device: str = "cpu",
        threads: int | None = None,
        batch: int | None = None,
        check_finite: bool = True,
        check_output: bool = False,
        *,
        pin_threads: bool = False,
        first_cpu: int = 0,
        profile: bool = False,
        verify_checksum: bool = True,
        max_memory_mb: int | None = None,
        library: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(check_finite, check_output)
        if device != "cpu":
            raise WNOEdgeError(f"the native engine runs on the cpu, not {preview(device, 60)}")
        if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
            raise WNOEdgeError(f"batch must be a positive integer, got {preview(batch, 60)}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise WNOEdgeError(f"threads must be a positive integer, got {preview(threads, 60)}")
        self._lib = load_library(library)
        engine = ctypes.c_void_p()
        self._engine: ctypes.c_void_p | None = engine  # None once closed
        opts = _Options()
        self._lib.wno_engine_default_options(ctypes.byref(opts))
        opts.batch = batch or 0
        opts.num_threads = threads or 0
        opts.pin_threads, opts.first_cpu = int(bool(pin_threads)), int(first_cpu)
        opts.profile, opts.verify_checksum = int(bool(profile)), int(bool(verify_checksum))
        if max_memory_mb is not None:
            if isinstance(max_memory_mb, bool) or not isinstance(max_memory_mb, int) or not 0 < max_memory_mb < 2**31:
                raise WNOEdgeError(f"max_memory_mb must be a positive integer, got {preview(max_memory_mb, 60)}")
            opts.max_memory_mb = max_memory_mb
        error = ctypes.create_string_buffer(1024)
        status = self._lib.wno_engine_open(
            os.fsencode(os.fspath(path)), ctypes.byref(opts), ctypes.byref(engine), error, len(error)
        )
        if status != SUCCESS:
            message = error.value.decode(errors="replace") or f"status {status}"
            if batch is not None and "fixed batch" in message:
                message += " (load it with that batch, or export with a dynamic batch)"
            raise WNOEdgeError(message)
        self.input_shape, self.output_shape = self._dims(0), self._dims(1)
        self.dtype = np.dtype(np.float32)
        self.device = "cpu"
        self.threads = self._lib.wno_engine_num_threads(self._engine)
        self.arena_bytes = self._lib.wno_engine_arena_bytes(self._engine)
        # the text the engine accepted, read by the same grammar (one reader: onnx_metadata)
        text = self._lib.wno_engine_config_json(self._engine).decode("utf-8", "replace")
        self.config = config_from_json(text, os.fspath(path)) if text else None
        self.plan: str = self._lib.wno_engine_plan(self._engine).decode("utf-8", "replace")
        """Which nodes fused into which stage, kernels, ISA, tiles, arena, reference nodes."""
        self._y = np.zeros(self.output_shape, self.dtype)
        self._y_ptr = self._y.ctypes.data

    def _dims(self, which: int) -> tuple[int, ...]:
        rank = self._lib.wno_engine_rank(self._engine, which)
        dims = (ctypes.c_longlong * max(rank, 1))()
        self._lib.wno_engine_dims(self._engine, which, dims, rank)
        return tuple(int(d) for d in dims[:rank])

    def _run(self, x: np.ndarray) -> np.ndarray:
        self._lib.wno_engine_run(self._engine, x.ctypes.data, self._y_ptr)  # releases the GIL
        return self._y

    def stage_times(self) -> tuple[dict[str, float], int]:
        """Seconds per stage summed over the runs since load (or reset), and that run count;
        all zero unless the session was opened with profile=True."""
        with self._lock:
            self._check_open()
            n = self._lib.wno_engine_stage_count(self._engine)
            seconds, runs = (ctypes.c_double * n)(), ctypes.c_longlong()
            self._lib.wno_engine_stage_times(self._engine, seconds, n, ctypes.byref(runs))
            names = [self._lib.wno_engine_stage_name(self._engine, i).decode() for i in range(n)]
        return dict(zip(names, seconds, strict=True)), runs.value

    def timing_breakdown(self) -> dict[str, dict[str, float]]:
        """For `wno-edge profile`: mean milliseconds per run of each stage (profile=True)."""
        seconds, runs = self.stage_times()
        return {"stages_ms": {k: 1e3 * v / runs for k, v in seconds.items()}} if runs else {}

    def reset_stage_times(self) -> None:
        with self._lock:
            self._check_open()
            self._lib.wno_engine_reset_stage_times(self._engine)

    def close(self) -> None:
        with self._lock:
            super().close()
            engine, self._engine = self._engine, None
            if engine:
                self._lib.wno_engine_close(engine)

    def __del__(self) -> None:
        engine = getattr(self, "_engine", None)
        if engine:
            self._engine = None
            self._lib.wno_engine_close(engine)


def default_backend(path: str | os.PathLike[str]) -> str:
    """runtime.load's choice for an .onnx file on the CPU: "native" when the engine is built and
    the file is one it runs (can_run), else "onnxruntime"."""
    if not library_path().is_file():
        return "onnxruntime"
    from .onnx_metadata import read_onnx_metadata

    try:
        meta = read_onnx_metadata(path)
    except WNOEdgeError:
        return "onnxruntime"  # ONNX Runtime's loader gives its own message
    return "native" if can_run(meta) and available()[0] else "onnxruntime"
