"""The native engine (runtime/engine, libwno_engine.so): the exported .onnx run end to end in C++.

Exactness against ONNX Runtime on the same file (1e-5 of the output scale) and against PyTorch
(1e-4), over tiles, odd and non-square grids, batches, --conv direct and the FNO special case;
the Session contract through wno_edge.runtime (native_backend); corrupt and foreign files
refused with a message; truncations and bit flips under AddressSanitizer + UBSan; no heap
allocation during a run; the C++ control-loop example (examples/cpp, built against an installed
prefix as any consumer would). Models are small (width 8-12).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from native_build import (
    AARCH64_BUILD,
    AARCH64_OPTIONS,
    ASAN_BUILD,
    BUILD,
    NATIVE_OPTIONS,
    RUNTIME,
    cmake_build,
    require_cmake,
)

from wno_edge.contract import Metadata
from wno_edge.errors import WNOEdgeError
from wno_edge.model import WNO2d, WNOConfig
from wno_edge.onnx.export import build_model_proto, weights_checksum

ROOT = RUNTIME.parent
ENGINE_DIR = BUILD / "engine"
EXAMPLE = ROOT / "examples" / "cpp"  # the C++ example, a consumer of the installed package
SANITIZED_OPTIONS = ("-DCMAKE_BUILD_TYPE=Release", "-DWNO_BUILD_CUDA=OFF", "-DWNO_SANITIZE=ON", "-DWNO_BUILD_TESTS=ON")


_configured: set[Path] = set()


def build_engine(build: Path, options, targets) -> Path:
    """The engine's targets in a build dir shared with the other native tests. CMake's configure
    step runs once per session first: make knows no rule for a target added since the dir was
    configured (it regenerates only when asked to build a target it knows)."""
    if build not in _configured and (build / "CMakeCache.txt").exists():
        subprocess.run(
            [require_cmake(), "-S", str(RUNTIME), "-B", str(build), *options], capture_output=True, check=True
        )
    _configured.add(build)
    return cmake_build(build, RUNTIME, options, targets, " ".join(targets))[0]


def engine_library() -> Path:
    """libwno_engine.so of this checkout, built in the shared tree (skipped without CMake): the
    library the engine tests of other files load."""
    build_engine(BUILD, NATIVE_OPTIONS, ("wno_engine",))
    path = ENGINE_DIR / "libwno_engine.so"
    if not path.is_file():
        pytest.skip(f"the native engine is not built ({path} not found)")
    return path


@pytest.fixture(scope="module")
def engine_lib() -> Path:
    build_engine(BUILD, NATIVE_OPTIONS, ("wno_engine", "wno_engine_alloc_test"))
    return ENGINE_DIR / "libwno_engine.so"


@pytest.fixture(scope="module")
def control_loop(engine_lib, tmp_path_factory) -> Path:
    """examples/cpp built as its README says, a project of its own: build/native's libraries
    `cmake --install`ed into a prefix outside the repository, then find_package(wno_edge CONFIG)."""
    build_engine(BUILD, NATIVE_OPTIONS, ("wno_winograd",))  # installed with the engine
    tmp = tmp_path_factory.mktemp("control_loop")
    prefix, build = tmp / "prefix", tmp / "build"
    r = subprocess.run(
        [require_cmake(), "--install", str(BUILD), "--prefix", str(prefix)], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    options = ("-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_PREFIX_PATH={prefix}")
    cmake_build(build, EXAMPLE, options, ("control_loop",), "examples/cpp/control_loop.cpp")
    return build / "control_loop"


@pytest.fixture()
def use_engine(engine_lib, monkeypatch):
    monkeypatch.setenv("WNO_EDGE_ENGINE_LIB", str(engine_lib))
    return engine_lib


def make_model(
    h, w, *, width=12, modes=(5, 6), layers=3, tile=4, fno=False, cin=2, cout=3, seed=0, normalise=True, padding=2
) -> WNO2d:
    torch.manual_seed(seed)
    cfg = WNOConfig(
        cin,
        cout,
        width=width,
        modes=modes,
        n_layers=layers,
        winograd_tile=tile,
        projection_width=24,
        real_space_kernel=not fno,
        domain_padding=padding,
        resolution=(h, w),
    )
    model = WNO2d(cfg).eval()
    if normalise:
        g = torch.Generator().manual_seed(seed + 1)
        model.set_normalization(
            torch.rand(cin, generator=g) - 0.5,
            torch.rand(cin, generator=g) + 0.5,
            torch.rand(cout, generator=g),
            torch.rand(cout, generator=g) + 0.5,
        )
    with torch.no_grad():  # spectral weights as large as the 3x3 kernels, so both branches count
        for layer in model.layers:
            layer.spectral.weights1.mul_(20)
            layer.spectral.weights2.mul_(20)
    return model


def write(model: WNO2d, path: Path, **options) -> Path:
    path.write_bytes(build_model_proto(model, **options).SerializeToString())
    return path


def ort_run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


def rel(a, b) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def native(path, engine_lib, **kw):
    from wno_edge.runtime.native_backend import NativeSession

    return NativeSession(path, library=engine_lib, **kw)


CASES = [  # (H, W, tile, conv, batch, dynamic)
    pytest.param(32, 32, 2, "winograd", 1, False, id="32x32-t2"),
    pytest.param(32, 32, 4, "winograd", 1, False, id="32x32-t4"),
    pytest.param(32, 32, 6, "winograd", 1, False, id="32x32-t6"),
    pytest.param(48, 40, 4, "winograd", 2, True, id="48x40-t4-batch2-dynamic"),
    pytest.param(37, 41, 6, "winograd", 1, False, id="37x41-t6"),
    pytest.param(37, 41, 2, "winograd", 3, False, id="37x41-t2-batch3"),
    # the conv runs on groups of images that fit in cache: here 6 a group, the last one of 5
    pytest.param(37, 41, 4, "winograd", 11, False, id="37x41-t4-batch11-groups"),
    pytest.param(20, 18, None, "direct", 2, True, id="20x18-direct"),
    pytest.param(33, 30, None, "fno", 2, False, id="33x30-fno"),
]


@pytest.mark.parametrize("h, w, tile, conv, batch, dynamic", CASES)
def test_equals_onnxruntime_and_pytorch(engine_lib, tmp_path, h, w, tile, conv, batch, dynamic):
    model = make_model(h, w, tile=tile or 4, fno=conv == "fno")
    options = {"batch": None if dynamic else batch}
    if conv == "winograd":
        options["tile"] = tile
    elif conv == "direct":
        options["conv"] = "direct"
    path = write(model, tmp_path / "m.onnx", **options)
    x = (np.random.default_rng(batch).standard_normal((batch, 2, h, w)) * 2 + 0.3).astype(np.float32)
    with native(path, engine_lib, threads=2, batch=batch if dynamic else None) as s:
        assert s.input_shape == (batch, 2, h, w) and s.output_shape == (batch, 3, h, w)
        y = s.run(x)
    y_ort = ort_run(path, x)
    with torch.no_grad():
        y_torch = model(torch.from_numpy(x)).numpy()
    assert rel(y, y_ort) <= 1e-5, rel(y, y_ort)
    assert rel(y, y_torch) <= 1e-4, rel(y, y_torch)


@pytest.mark.parametrize("conv", ["winograd", "fused-epilogue", "fno"])
def test_a_batch_runs_in_passes(engine_lib, tmp_path, monkeypatch, conv):
    """A batch runs every stage on a few images at a time ($WNO_ENGINE_PASS_IMAGES overrides the
    cache-sized default): passes of 1 and of 4 (the last of 3, with conv groups inside) give
    bitwise the result of one pass over the batch, which equals ONNX Runtime."""
    if conv == "fused-epilogue":
        monkeypatch.setenv("WNO_ENGINE_FUSED_EPILOGUE", "1")
    path = write(make_model(37, 41, fno=conv == "fno"), tmp_path / "m.onnx", batch=11)
    x = np.random.default_rng(5).standard_normal((11, 2, 37, 41)).astype(np.float32)
    out = {}
    for images in ("11", "4", "1"):
        monkeypatch.setenv("WNO_ENGINE_PASS_IMAGES", images)
        with native(path, engine_lib, threads=2) as s:
            assert ("in passes of" in s.plan) == (images != "11"), s.plan
            assert images == "11" or f"the batch in passes of {images} images" in s.plan
            out[images] = s.run(x).copy()
    assert np.array_equal(out["4"], out["11"]) and np.array_equal(out["1"], out["11"])
    assert rel(out["11"], ort_run(path, x)) <= 1e-5


@pytest.mark.parametrize("modes", [(4, 20), (20, 4)], ids=["w-modes-20", "h-modes-20"])
def test_more_modes_than_one_packed_panel(engine_lib, tmp_path, modes):
    """Over 16 kept W modes the DFT GEMMs' B spans two packed panels (the one-panel paths write
    it in place)."""
    model = make_model(44, 46, modes=modes, layers=2)
    path = write(model, tmp_path / "m.onnx")
    x = np.random.default_rng(1).standard_normal((1, 2, 44, 46)).astype(np.float32)
    with native(path, engine_lib, threads=2) as s:
        assert "fused WNO pipeline" in s.plan
        assert rel(s.run(x), ort_run(path, x)) <= 1e-5


def test_no_domain_padding_and_identity_statistics(engine_lib, tmp_path):
    model = make_model(24, 20, padding=0, normalise=False, layers=2, modes=(4, 4))
    path = write(model, tmp_path / "m.onnx")
    names = {t.name for t in onnx.load(path).graph.initializer}
    assert "input_mean" not in names and "output_std" not in names  # the exporter omits identities
    x = np.random.default_rng(0).standard_normal((1, 2, 24, 20)).astype(np.float32)
    with native(path, engine_lib, threads=1) as s:
        assert rel(s.run(x), ort_run(path, x)) <= 1e-5


@pytest.mark.parametrize(
    "bases",
    [("dft.fwd_w", "dft.inv_w"), ("dft.fwd_h", "dft.inv_h"), ("dft.fwd_w", "dft.inv_w", "dft.fwd_h", "dft.inv_h")],
    ids=["w", "h", "both"],
)
def test_bases_without_symmetry_take_the_general_path(engine_lib, tmp_path, bases):
    """The DFTs are folded on the bases' cos/sin symmetry in w and in h; a file whose bases lack
    it (not one the exporter writes, but valid) runs the unfolded GEMMs, equally exact."""
    path = write(make_model(22, 21, layers=2), tmp_path / "m.onnx")

    def perturb(proto):
        for t in proto.graph.initializer:
            if t.name in bases:
                a = onnx.numpy_helper.to_array(t).copy()
                a[1, 0] *= 1.01
                t.CopyFrom(onnx.numpy_helper.from_array(a, t.name))
        _rechecksum(proto)

    odd = _edited(path, tmp_path / "asym.onnx", perturb)
    x = np.random.default_rng(2).standard_normal((1, 2, 22, 21)).astype(np.float32)
    with native(odd, engine_lib, threads=1) as s:
        assert rel(s.run(x), ort_run(odd, x)) <= 1e-5


def test_fused_epilogue_path(engine_lib, tmp_path, monkeypatch):
    """$WNO_ENGINE_FUSED_EPILOGUE=1: the layer sum in the Winograd kernel's epilogue (bias +
    spectral addend + GELU) instead of the plain conv and the engine's own pass; same result."""
    path = write(make_model(29, 26, tile=6), tmp_path / "m.onnx", batch=2)
    x = np.random.default_rng(4).standard_normal((2, 2, 29, 26)).astype(np.float32)
    with native(path, engine_lib, threads=2) as s:
        y = s.run(x)
    monkeypatch.setenv("WNO_ENGINE_FUSED_EPILOGUE", "1")
    with native(path, engine_lib, threads=2) as s:
        y_fused = s.run(x)
    assert rel(y_fused, ort_run(path, x)) <= 1e-5 and rel(y_fused, y) <= 1e-6


@pytest.mark.parametrize("cout", [1, 4, 9])
def test_projection_out_channels(engine_lib, tmp_path, cout):
    """The projection's last map takes out channels four at a time (act_dot): one, a whole group,
    and two groups and one left over, on a row whose 37 columns end in a partial vector."""
    path = write(make_model(23, 37, cout=cout, layers=1), tmp_path / "m.onnx")
    x = np.random.default_rng(7).standard_normal((1, 2, 23, 37)).astype(np.float32)
    with native(path, engine_lib, threads=2) as s:
        assert "all covered by fusion patterns" in s.plan
        assert rel(s.run(x), ort_run(path, x)) <= 1e-5


def test_lift_constant_as_row_and_column_terms_or_whole(engine_lib, tmp_path):
    """The exporter's lift constant (bias + grid terms) is a row term plus a column term per
    channel, which the engine stores instead of the plane; a constant that is not (an edited file,
    still zero in the domain padding) runs from the plane. Both equal ONNX Runtime."""
    path = write(make_model(29, 26), tmp_path / "m.onnx")

    def bump(proto):
        t = next(t for t in proto.graph.initializer if t.name == "lift.bias_and_grid")
        a = onnx.numpy_helper.to_array(t).copy()
        a[0, :, 3:-3, 4:-4] += np.random.default_rng(0).standard_normal(a[0, :, 3:-3, 4:-4].shape) * 0.1
        t.CopyFrom(onnx.numpy_helper.from_array(a, t.name))
        _rechecksum(proto)

    bumped = _edited(path, tmp_path / "bumped.onnx", bump)
    x = np.random.default_rng(6).standard_normal((1, 2, 29, 26)).astype(np.float32)
    for file, separable in ((path, True), (bumped, False)):
        with native(file, engine_lib, threads=2) as s:
            assert ("1x1 lift (its constant as row + column terms)" in s.plan) == separable, s.plan
            assert "all covered by fusion patterns" in s.plan
            assert rel(s.run(x), ort_run(file, x)) <= 1e-5


def test_layers_with_different_tiles(engine_lib, tmp_path):
    """The tile is each WinogradConv node's attribute; a file mixing tiles runs each layer with
    its own (the exporter writes one, but the op contract allows any per node)."""
    path = write(make_model(30, 27, layers=3, tile=2), tmp_path / "m.onnx")

    def mix_tiles(proto):
        convs = [n for n in proto.graph.node if n.op_type == "WinogradConv"]
        for node, tile in zip(convs, (2, 6, 4), strict=False):
            next(a for a in node.attribute if a.name == "tile").i = tile

    mixed = _edited(path, tmp_path / "mixed.onnx", mix_tiles)
    x = np.random.default_rng(3).standard_normal((1, 2, 30, 27)).astype(np.float32)
    with native(mixed, engine_lib, threads=2) as s:
        assert rel(s.run(x), ort_run(mixed, x)) <= 1e-5


def test_one_and_two_threads_agree(engine_lib, tmp_path):
    path = write(make_model(40, 36), tmp_path / "m.onnx", batch=2)
    x = np.random.default_rng(1).standard_normal((2, 2, 40, 36)).astype(np.float32)
    with native(path, engine_lib, threads=1) as a, native(path, engine_lib, threads=2) as b:
        assert rel(a.run(x), b.run(x)) <= 1e-6


def test_joint_regions_change_no_bit(engine_lib, tmp_path):
    """A pass of one conv group runs each layer's conv in the mixing's region, and its sum and the
    next layer's forward DFTs in the inverse DFT tasks; profiling keeps the stages apart. Both
    give the same bits, at 1 and 2 threads, and equal ONNX Runtime."""
    path = write(make_model(40, 36), tmp_path / "m.onnx", batch=1)
    x = np.random.default_rng(2).standard_normal((1, 2, 40, 36)).astype(np.float32)
    out = {}
    for threads in (1, 2):
        for profile in (False, True):
            with native(path, engine_lib, threads=threads, profile=profile) as s:
                out[threads, profile] = s.run(x).copy()
    ref = out[1, True]
    assert all(np.array_equal(y, ref) for y in out.values())
    assert rel(ref, ort_run(path, x)) <= 1e-5


@pytest.fixture()
def small_file(tmp_path) -> Path:
    return write(make_model(20, 18, width=8, modes=(3, 4), layers=2), tmp_path / "small.onnx", batch=1)


def test_session_contract(engine_lib, small_file):
    with native(small_file, engine_lib, threads=2) as s:
        assert s.backend == "native" and s.dtype == np.float32 and s.config.width == 8
        x = np.random.default_rng(0).standard_normal(s.input_shape).astype(np.float32)
        y = s.run(x)
        out = np.empty(s.output_shape, np.float32)
        assert s.run(x, out=out) is out and np.array_equal(out, y)
        s.warmup(3)
        assert np.array_equal(s.run(x), y)
        with pytest.raises(WNOEdgeError, match="shape"):
            s.run(x[:, :, :-1])
        with pytest.raises(WNOEdgeError, match="dtype"):
            s.run(x.astype(np.float64))
        with pytest.raises(WNOEdgeError, match="NaN"):
            s.run(np.full(s.input_shape, np.nan, np.float32))
        with pytest.raises(WNOEdgeError, match="C-contiguous"):
            s.run(np.asfortranarray(np.zeros(s.input_shape, np.float32).transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2))
        with pytest.raises(WNOEdgeError, match="out"):
            s.run(x, out=np.empty((1, 1), np.float32))
    with pytest.raises(WNOEdgeError, match="closed"):
        s.run(x)
    with pytest.raises(WNOEdgeError, match="fixed batch"):
        native(small_file, engine_lib, batch=2)


def test_threads_sharing_a_session_get_their_own_results(engine_lib, small_file):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((1, 2, 20, 18)).astype(np.float32) for _ in range(8)]
    with native(small_file, engine_lib, threads=2) as s:
        expected = [s.run(x) for x in xs]
        failures = []

        def worker(k):
            out = np.empty(s.output_shape, np.float32)
            for i in range(60):
                j = (k * 3 + i) % len(xs)
                y = s.run(xs[j], out=out if i % 2 else None)
                if not np.array_equal(y, expected[j]):
                    failures.append((k, i))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not failures


def test_pinned_helpers(engine_lib, small_file):
    cpus = sorted(os.sched_getaffinity(0))
    x = np.random.default_rng(0).standard_normal((1, 2, 20, 18)).astype(np.float32)
    with native(small_file, engine_lib, threads=1) as ref:
        expected = ref.run(x)
    if len(cpus) >= 2 and cpus[1] == cpus[0] + 1:
        with native(small_file, engine_lib, threads=2, pin_threads=True, first_cpu=cpus[0]) as s:
            assert np.allclose(s.run(x), expected, rtol=0, atol=1e-6 * np.abs(expected).max())
        assert sorted(os.sched_getaffinity(0)) == cpus  # the calling thread is left alone
    with pytest.raises(WNOEdgeError, match="cannot pin"):
        native(small_file, engine_lib, threads=2, pin_threads=True, first_cpu=1 << 20)


def test_profile_stage_times(engine_lib, small_file):
    with native(small_file, engine_lib, threads=1, profile=True) as s:
        s.warmup(5)
        seconds, runs = s.stage_times()
        # the plan's stages: the lift, four steps per layer, the projection
        assert runs == 5 and len(seconds) == 2 + 4 * s.config.n_layers and all(v > 0 for v in seconds.values())
        assert list(seconds)[1] == "layer 0 dft forward" and list(seconds)[-1] == "projection"
        assert set(s.timing_breakdown()["stages_ms"]) == set(seconds)
        s.reset_stage_times()
        assert s.stage_times()[1] == 0


def test_import_loads_neither_torch_nor_onnxruntime(engine_lib, small_file):
    code = (
        "import sys, numpy as np\n"
        "from wno_edge import runtime\n"
        f"s = runtime.load({str(small_file)!r}, backend='native', threads=1)\n"
        "s.run(np.zeros(s.input_shape, np.float32))\n"
        "bad = [m for m in ('torch', 'onnxruntime', 'onnx') if m in sys.modules]\n"
        "print(s.backend, bad)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "WNO_EDGE_ENGINE_LIB": str(engine_lib)},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "native []"


def test_default_backend(use_engine, small_file, tmp_path):
    from wno_edge import runtime

    with runtime.load(small_file) as s:
        assert s.backend == "native"
    with runtime.load(small_file, backend="onnxruntime") as s:
        assert s.backend == "onnxruntime"
    # A file exported before the checksum existed: ONNX Runtime by default; native refuses it.
    proto = onnx.load(small_file)
    keep = [p for p in proto.metadata_props if p.key != Metadata.WEIGHTS_CHECKSUM]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    old = tmp_path / "old.onnx"
    old.write_bytes(proto.SerializeToString())
    with runtime.load(old) as s:
        assert s.backend == "onnxruntime"
    with pytest.raises(WNOEdgeError, match="re-export"):
        runtime.load(old, backend="native")
    with runtime.load(old, backend="native", verify_checksum=False) as s:
        assert s.backend == "native"
    with pytest.raises(WNOEdgeError, match="backend"):
        runtime.load(small_file, backend="tensorrt")


# ---- refusing what the engine cannot run ------------------------------------------------------


def _edited(src: Path, dst: Path, edit) -> Path:
    proto = onnx.load(src)
    edit(proto)
    dst.write_bytes(proto.SerializeToString())
    return dst


def _set_meta(proto, key, value):
    for p in proto.metadata_props:
        if p.key == key:
            p.value = value
            return
    proto.metadata_props.add(key=key, value=value)


def _rechecksum(proto):
    _set_meta(proto, Metadata.WEIGHTS_CHECKSUM, weights_checksum(proto.graph))


def _flip_weight(proto):
    t = next(t for t in proto.graph.initializer if t.name == "layers.1.spectral.mixing")
    raw = bytearray(t.raw_data)
    raw[len(raw) // 2] ^= 0x40  # an exponent bit: the value becomes huge
    t.raw_data = bytes(raw)


def _newer_domain(proto):
    for o in proto.opset_import:
        if o.domain == "wno_edge":
            o.version = 2


def _unknown_key(proto):
    import json

    cfg = json.loads(next(p.value for p in proto.metadata_props if p.key == Metadata.CONFIG))
    cfg["attention"] = True
    _set_meta(proto, Metadata.CONFIG, json.dumps(cfg))


def _wrong_width(proto):
    import json

    cfg = json.loads(next(p.value for p in proto.metadata_props if p.key == Metadata.CONFIG))
    cfg["width"] = 9
    _set_meta(proto, Metadata.CONFIG, json.dumps(cfg))


def _bad_tile(proto):
    for n in proto.graph.node:
        for a in n.attribute:
            if a.name == "tile":
                a.i = 8
    _rechecksum(proto)


def _no_config(proto):
    keep = [p for p in proto.metadata_props if p.key != Metadata.CONFIG]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)


def test_accepts_grid_keys_of_newer_configs(engine_lib, small_file, tmp_path):
    """grid_domain / grid_points (written for non-default grids) are baked into the lift constant:
    the engine reads past them; an unknown key is still refused."""
    import json

    def add(proto):
        cfg = json.loads(next(p.value for p in proto.metadata_props if p.key == Metadata.CONFIG))
        cfg.update(grid_domain=[[-1.5, 2.0], [0.0, 6.283185307179586]], grid_points="centers")
        _set_meta(proto, Metadata.CONFIG, json.dumps(cfg))

    edited = _edited(small_file, tmp_path / "grid.onnx", add)
    x = np.random.default_rng(0).standard_normal((1, 2, 20, 18)).astype(np.float32)
    with native(small_file, engine_lib, threads=1) as a, native(edited, engine_lib, threads=1) as b:
        assert np.array_equal(a.run(x), b.run(x))


@pytest.mark.parametrize(
    "edit, match",
    [
        (_flip_weight, "checksum mismatch"),
        (_newer_domain, "newer"),
        (_unknown_key, "newer wno-edge format"),
        (_bad_tile, "tile"),
    ],
)
def test_refuses_corrupt_or_foreign_files(engine_lib, small_file, tmp_path, edit, match):
    bad = _edited(small_file, tmp_path / "bad.onnx", edit)
    with pytest.raises(WNOEdgeError, match=match):
        native(bad, engine_lib)


@pytest.mark.parametrize("edit", [_wrong_width, _no_config])
def test_metadata_is_informative(engine_lib, small_file, tmp_path, edit):
    """The engine computes the graph: a config that contradicts it, or none, changes nothing."""
    edited = _edited(small_file, tmp_path / "edited.onnx", edit)
    x = np.random.default_rng(0).standard_normal((1, 2, 20, 18)).astype(np.float32)
    with native(small_file, engine_lib, threads=1) as a, native(edited, engine_lib, threads=1) as b:
        assert np.array_equal(a.run(x), b.run(x))
        assert "fused WNO pipeline" in b.plan


def test_refuses_non_onnx_fp16_and_missing_files(engine_lib, tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(WNOEdgeError, match="not a"):
        native(junk, engine_lib)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(WNOEdgeError, match="empty"):
        native(empty, engine_lib)
    plain = tmp_path / "plain.onnx"
    node = onnx.helper.make_node("Identity", ["input"], ["output"])
    vi = onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 1, 4, 4])
    vo = onnx.helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1, 1, 4, 4])
    graph = onnx.helper.make_graph([node], "g", [vi], [vo])
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), plain)
    with pytest.raises(WNOEdgeError, match="no weight checksum"):
        native(plain, engine_lib)
    with native(plain, engine_lib, verify_checksum=False) as s:  # a foreign graph runs as written
        x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
        assert np.array_equal(s.run(x), x) and "reference" in s.plan
    half = write(make_model(16, 16, width=8, modes=(3, 3), layers=1), tmp_path / "half.onnx", fp16=True)
    with pytest.raises(WNOEdgeError, match="float16"):
        native(half, engine_lib)
    with pytest.raises(WNOEdgeError, match="cannot open"):
        native(tmp_path / "missing.onnx", engine_lib)


@pytest.mark.heavy
@pytest.mark.parametrize("variant", ["winograd", "direct", "fno-unpadded", "dft"])
def test_truncated_and_bit_flipped_files_under_sanitizers(tmp_path, variant):
    """Every truncation length of a tiny export and random single-bit flips: refused, or the
    intact file's output (the driver checks), under AddressSanitizer + UBSan. "dft": the spectral
    branch as ONNX DFT nodes, whose omitted dft_length input the planner once read as value -1
    (a flaky wrong plan or a crash); truncations only, because its DFT nodes' attributes are
    graph structure: a flipped inverse or onesided bit is a valid edited graph, which runs as
    it is (runtime/README.md, checksums)."""
    try:
        build_engine(ASAN_BUILD, SANITIZED_OPTIONS, ("wno_engine_fuzz",))
    except AssertionError as exc:
        if "asan" in str(exc).lower() and "cannot find" in str(exc).lower():
            pytest.skip("the compiler has no AddressSanitizer runtime")
        raise
    model = make_model(
        8,
        7,
        width=4,
        modes=(2, 2),
        layers=2,
        cin=1,
        cout=2,
        fno=variant.startswith("fno"),
        padding=0 if variant == "fno-unpadded" else 2,
    )
    options = {"direct": {"conv": "direct"}, "dft": {"spectral": "dft", "opset": 20}}.get(variant, {})
    path = write(model, tmp_path / "tiny.onnx", batch=1, **options)
    size = path.stat().st_size
    r = subprocess.run(
        [
            str(ASAN_BUILD / "engine" / "wno_engine_fuzz"),
            str(path),
            str(size),
            "0" if variant == "dft" else "1500",
            "7",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1"},
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert " 0 wrong" in r.stdout and "WRONG" not in r.stdout, r.stdout


def _extra_mul(proto):  # y = output * 1 after the projection: a node no pattern covers
    proto.graph.initializer.append(onnx.numpy_helper.from_array(np.ones((), np.float32), "extra_one"))
    proto.graph.node[-1].output[0] = "before_extra"
    proto.graph.node.append(onnx.helper.make_node("Mul", ["before_extra", "extra_one"], ["output"], name="extra"))


def _extra_first(proto):  # an Identity on the input: the lift pattern no longer starts there
    proto.graph.node[0].input[0] = "input_copy"
    proto.graph.node.insert(0, onnx.helper.make_node("Identity", ["input"], ["input_copy"], name="copy"))


@pytest.mark.parametrize(
    "edit, plan",
    [
        (None, "all covered by fusion patterns"),
        (_extra_mul, "1 on reference kernels"),
        (_extra_first, "on reference kernels (node copy (Identity): reads the input, and no fusion"),
    ],
    ids=["fused", "block-then-reference", "reference-then-block"],
)
def test_partial_fusion_equals_ort(engine_lib, small_file, tmp_path, edit, plan):
    """Nodes no pattern covers run on reference kernels around the fused block: same result."""
    path = _edited(small_file, tmp_path / "edited.onnx", edit) if edit else small_file
    x = np.random.default_rng(1).standard_normal((1, 2, 20, 18)).astype(np.float32)
    with native(path, engine_lib, threads=2, verify_checksum=False, profile=True) as s:
        assert plan in s.plan.splitlines()[0], s.plan
        y = s.run(x)
        assert np.abs(y - ort_run(path, x)).max() <= 1e-5 * np.abs(y).max()
        seconds, runs = s.stage_times()
        assert runs == 1 and list(seconds)[1] == "layer 0 dft forward"
        assert ("reference kernels (" in list(seconds)[-1]) == (edit is not None)


@pytest.mark.parametrize("edit", [None, _extra_mul, _extra_first], ids=["fused", "mixed", "lift-on-reference"])
def test_no_heap_allocation_during_run(engine_lib, tmp_path, edit):
    path = write(make_model(30, 26), tmp_path / "m.onnx", batch=2)
    if edit:
        path = _edited(path, tmp_path / "edited.onnx", lambda p: (edit(p), _rechecksum(p)))
    r = subprocess.run(
        [str(ENGINE_DIR / "wno_engine_alloc_test"), str(path), "2", "40"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 during 40 runs" in r.stdout, r.stdout


def test_cpp_control_loop_example(control_loop, tmp_path):
    model = make_model(24, 24, cin=1, cout=1)
    path = write(model, tmp_path / "model.onnx", batch=1)
    r = subprocess.run(
        [str(control_loop), str(path), "--rate", "200", "--ticks", "40", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "40 ticks at 200.0 Hz" in r.stdout and "deadline misses" in r.stdout and "p99" in r.stdout
    assert "peak resident memory" in r.stdout
    cpu = min(os.sched_getaffinity(0))
    pinned = subprocess.run(
        [str(control_loop), str(path), "--ticks", "10", "--pin", str(cpu)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert pinned.returncode == 0, pinned.stdout + pinned.stderr
    bad = subprocess.run(
        [str(control_loop), str(tmp_path / "missing.onnx")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1 and "cannot open" in bad.stderr
    # A nanosecond period (the clock's tick) runs; every tick is late and the skipped ticks are
    # counted, not stepped through one nanosecond at a time.
    fast = subprocess.run(
        [str(control_loop), str(path), "--rate", "1e9", "--ticks", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert fast.returncode == 0 and "3 ticks at 1000000000.0 Hz" in fast.stdout, fast.stdout + fast.stderr
    assert "3 deadline misses" in fast.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["--rate", "inf"], "--rate must be"),  # a zero period: the skip-ahead loop spun forever
        (["--rate", "nan"], "--rate must be"),
        (["--rate", "0"], "--rate must be"),
        (["--rate", "-1"], "--rate must be"),
        (["--rate", "1e-300"], "--rate must be"),  # a period of 1e300 s overflowed the clock
        (["--rate", "5e-324"], "--rate must be"),  # 1 / rate is inf
        (["--rate", "1e10"], "--rate must be"),  # a period below the clock's nanosecond
        (["--rate", "abc"], "--rate must be"),  # atof read it as 0
        (["--rate", "50abc"], "--rate must be"),  # atof read it as 50
        (["--rate", " 50"], "--rate must be"),
        (["--rate", ""], "--rate must be"),
        (["--rate"], "--rate needs a value"),  # was ignored
        (["--ticks", "0"], "--ticks must be"),
        (["--ticks", "10x"], "--ticks must be"),  # atoi read it as 10
        (["--ticks", "99999999999"], "--ticks must be"),  # atoi overflow
        (["--threads", "-1"], "--threads must be"),
        (["--threads", "2.5"], "--threads must be"),
        (["--threads", "100000"], "--threads must be"),
        (["--pin", "-1"], "--pin must be"),
        (["--pin", "1000000"], "--pin must be"),  # CPU_SET beyond the set's size
        (["--pin", "x"], "--pin must be"),
        (["--ticks", "5", "--bogus", "1"], "unknown option"),
    ],
)
def test_cpp_control_loop_example_refuses_bad_arguments(control_loop, tmp_path, args, words):
    """One line on stderr and exit 2, before the model is opened or a tick runs."""
    path = write(make_model(8, 8, width=4, modes=(2, 2), layers=1, cin=1, cout=1), tmp_path / "m.onnx", batch=1)
    r = subprocess.run(
        [str(control_loop), str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,  # a generous bound on a hang (--rate inf ran forever), not a timing check
        check=False,
    )
    assert r.returncode == 2 and r.stdout == "", r.stdout + r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], r.stderr


def test_cli_profile_native_prints_stages(use_engine, small_file):
    from typer.testing import CliRunner

    from wno_edge.cli import app

    r = CliRunner().invoke(
        app,
        ["profile", "--engine", str(small_file), "--backend", "native", "-n", "20", "--warmup", "2", "--threads", "1"],
    )
    assert r.exit_code == 0, r.output
    assert "native" in r.output and "Stages (mean per run): normalize+lift" in r.output


def test_cli_info_plan(use_engine, small_file, tmp_path):
    """`info --plan`: every node in a fused stage, the kernel and ISA, the arena; an edited graph
    names the node no pattern took, and each node that runs on a reference kernel."""
    from typer.testing import CliRunner

    from wno_edge.cli import app

    r = CliRunner().invoke(app, ["info", str(small_file), "--plan"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("plan: fused WNO pipeline, 2 layers") and "reference kernels: none" in r.output
    assert "stage layer 1: DFT GEMMs" in r.output and "Winograd F(4x4, 3x3)" in r.output and "arena" in r.output

    edited = _edited(small_file, tmp_path / "extra.onnx", _extra_mul)
    r = CliRunner().invoke(app, ["info", str(edited), "--plan", "--no-verify-checksum", "--json"])
    assert r.exit_code == 0, r.output
    lines = json.loads(r.output)["plan"]
    assert lines[0].startswith("plan: fused WNO pipeline, 2 layers, 61 nodes, 60 fused, 1 on reference kernels")
    assert "node extra (Mul): no fusion pattern covers it" in lines[0]
    assert lines[-1] == "  reference extra (Mul) -> (1, 3, 20, 18)"
    r = CliRunner().invoke(app, ["info", str(small_file).replace(".onnx", ".pt"), "--plan"])
    assert "--plan reads an .onnx file" in str(r.exception)


def test_info_backends_lists_the_engine(use_engine):
    from wno_edge.reports.backends import backends_report

    rows = {name: (ok, why) for name, ok, why in backends_report()}
    assert rows["native-engine"][0], rows["native-engine"]


@pytest.mark.heavy
@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-g++") is None, reason="no aarch64-linux-gnu-g++")
def test_aarch64_neon_build_under_qemu(tmp_path):
    """The engine cross-built for aarch64 (NEON loops, the kernel's NEON path), statically linked,
    run under qemu-aarch64: equal to ONNX Runtime on the host."""
    build = build_engine(
        AARCH64_BUILD,
        AARCH64_OPTIONS,
        ("wno_engine_stdio",),
    )
    qemu = shutil.which("qemu-aarch64")
    if qemu is None:
        pytest.skip("compiled for aarch64; no qemu-aarch64 to run it")
    path = write(make_model(21, 19, tile=6), tmp_path / "m.onnx", batch=2)
    x = np.random.default_rng(0).standard_normal((2, 2, 21, 19)).astype(np.float32)
    r = subprocess.run(
        [qemu, str(build / "engine" / "wno_engine_stdio"), str(path), "2"],
        input=x.tobytes(),
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0 and r.stderr.decode().strip() == "neon", r.stderr
    y = np.frombuffer(r.stdout, np.float32).reshape(2, 3, 21, 19)
    assert rel(y, ort_run(path, x)) <= 1e-5


@pytest.mark.parametrize(
    "edit, words",
    [
        pytest.param(lambda t: t.replace('"width": 8', '"width": 08'), "malformed", id="leading-zero"),
        pytest.param(lambda t: t.replace('"width": 8', '"width": 8, "width": 8'), "duplicate key", id="duplicate"),
        pytest.param(lambda t: t[:-1] + ', "x": ' + "[" * 30_000 + "]" * 30_000 + "}", "deeper", id="30000-deep"),
        pytest.param(lambda t: t[:-1] + ', "' + "k" * (1 << 20) + '": 1}', "larger than", id="1-MiB-key"),
    ],
)
def test_config_text_refused_alike_by_every_reader(engine_lib, small_file, tmp_path, capsys, edit, words):
    """A config text outside the grammar (tests/test_config_grammar.py) is one line from the native
    engine, the ONNX Runtime backend and `wno-edge info`: the engine accepted "width": 08 (then the
    session's own json.loads raised), and 10**4 brackets were a RecursionError in Python."""
    from wno_edge import runtime
    from wno_edge.cli import main

    def change(proto):
        text = next(p.value for p in proto.metadata_props if p.key == Metadata.CONFIG)
        _set_meta(proto, Metadata.CONFIG, edit(text))

    bad = _edited(small_file, tmp_path / "bad.onnx", change)
    for load in (lambda: native(bad, engine_lib), lambda: runtime.load(bad, backend="onnxruntime")):
        with pytest.raises(WNOEdgeError, match=words) as e:
            load()
        assert "\n" not in str(e.value) and len(str(e.value)) < 400, str(e.value)[:1000]
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and len(err) < 400, err[:1000]


def test_direct_export_runs_on_the_winograd_kernel(engine_lib, tmp_path):
    """A standard-ops (--conv direct) file loses no speed on the engine: its 3x3 Convs match the
    layer pattern and run with Winograd F(4,3), and the plan says so."""
    path = write(make_model(20, 18, width=8, modes=(3, 4), layers=2), tmp_path / "d.onnx", conv="direct", batch=1)
    with native(path, engine_lib, threads=1) as s:
        assert "all covered by fusion patterns" in s.plan.splitlines()[0]
        assert s.plan.count("Winograd F(4x4, 3x3) for a 3x3 Conv") == 2
        x = np.random.default_rng(2).standard_normal((1, 2, 20, 18)).astype(np.float32)
        y = s.run(x)
        assert np.abs(y - ort_run(path, x)).max() <= 1e-5 * np.abs(y).max()
