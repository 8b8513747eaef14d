"""The native engine computes the graph in the .onnx file, as ONNX Runtime does, or refuses it in
one line (issue 21): never a third answer.

Differential and hostile: small exports (winograd, --conv direct, FNO, the neuraloperator block,
opset 20's Gelu, a fixed batch of 2) edited after export (tests/hostile_graphs.py: ops swapped,
constants perturbed, nodes renamed, rewired, inserted and removed, a foreign graph carrying an
export's metadata, onnxsim and onnx.inliner rewrites), each compared with ONNX Runtime on the same
file: the engine's output equals ORT's within 1e-5 of ORT's output scale, or the engine refuses
the file with a one-line WNOEdgeError. Edits ONNX Runtime itself rejects are skipped, and so are
edits too ill-conditioned to be compared at that tolerance (ort_output). Also the
structure checksum (wno_edge/onnx/digest.py) against bytes built by hand, the checksum policy
(docs/export.md, "Metadata"), and hostile loads (a huge batch, a FIFO and a directory given to the
C ABI, a NaN weight), each refused in one line within a second.
"""

from __future__ import annotations

import os
import re
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from hostile_files import MEMORY_LIMIT, run_bounded
from hostile_graphs import FAMILIES, copy, foreign_graph
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from test_engine import _flip_weight, _rechecksum, _set_meta, engine_library, make_model

from wno_edge import runtime
from wno_edge.contract import Metadata
from wno_edge.errors import WNOEdgeError
from wno_edge.model import WNO2d, WNOConfig
from wno_edge.onnx.digest import structure_digest
from wno_edge.onnx.export import build_model_proto, export_onnx

TOLERANCE = 1e-5  # of max |y_ort|
RES = (16, 16)


@pytest.fixture(scope="module")
def lib() -> Path:
    return engine_library()


# ---- the exports -------------------------------------------------------------------------------


def _small(**kw) -> WNO2d:
    return make_model(*RES, width=8, modes=(3, 4), layers=2, **kw)


def _neuralop() -> WNO2d:
    """neuraloperator's block (lifting MLP, channel MLP with skip, symmetric domain padding),
    built from its config: what wno_edge.importers.neuralop makes of an FNO."""
    torch.manual_seed(3)
    cfg = WNOConfig(
        2,
        3,
        width=8,
        modes=(3, 4),
        n_layers=2,
        projection_width=16,
        block="neuralop",
        lifting_width=16,
        channel_mlp_width=8,
        channel_mlp_skip=True,
        domain_padding=0,
        domain_padding_fraction=(0.125, 0.25),
        resolution=RES,
    )
    model = WNO2d(cfg).eval()
    g = torch.Generator().manual_seed(4)
    model.set_normalization(
        torch.rand(2, generator=g) - 0.5,
        torch.rand(2, generator=g) + 0.5,
        torch.rand(3, generator=g),
        torch.rand(3, generator=g) + 0.5,
    )
    return model


LINE = (24,)


def _silu_decoder() -> WNO2d:
    """PhysicsNeMo's decoder activation: the projection's SiLU (x * Sigmoid(x) in the export)."""
    torch.manual_seed(9)
    model = WNO2d(WNOConfig(2, 3, width=8, modes=(3, 4), n_layers=2, projection_activation="silu", resolution=RES))
    return model.eval()


def _line(**kw) -> WNO2d:
    """A 1-D WNO (grid 24, 5 modes): its spectral chain has no H transform."""
    torch.manual_seed(kw.pop("seed", 7))
    cfg = dict(in_channels=2, out_channels=3, width=8, modes=(5,), n_layers=2, projection_width=16)
    model = WNO2d(WNOConfig(**cfg, resolution=LINE, **kw)).eval()
    with torch.no_grad():
        for layer in model.layers:
            layer.spectral.weights1.normal_(0, 1 / 8)
    model.set_normalization(
        torch.tensor([0.2, -0.1]), torch.tensor([1.5, 0.7]), torch.zeros(3) + 0.1, torch.ones(3) * 2
    )
    return model


# name -> (model, export options, batch of the test input[, grid])
BASES = {
    "winograd": (lambda: _small(), {"tile": 4}, 2),  # dynamic batch
    "direct": (lambda: _small(seed=1), {"conv": "direct", "batch": 1}, 1),
    "fno": (lambda: _small(fno=True, seed=2), {"batch": 1}, 1),
    "neuralop": (_neuralop, {}, 2),
    "opset20": (lambda: _small(seed=5), {"opset": 20, "batch": 1, "tile": 2}, 1),
    "batch2": (lambda: _small(seed=6), {"batch": 2, "tile": 6}, 2),
    "line": (_line, {"tile": 4}, 2, LINE),
    "line-fno": (lambda: _line(seed=8, real_space_kernel=False), {"batch": 1}, 1, LINE),
    "silu": (_silu_decoder, {"tile": 4}, 2),
}


class Base:
    def __init__(self, name: str) -> None:
        make, self.options, n, *grid = BASES[name]
        res = grid[0] if grid else RES
        self.name, self.model = name, make()
        self.proto = build_model_proto(self.model, resolution=res, **self.options)
        self.dynamic = self.options.get("batch") is None
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        self.x = (rng.standard_normal((n, 2, *res)) * 2 + 0.3).astype(np.float32)


@pytest.fixture(scope="module")
def bases() -> dict[str, Base]:
    return {name: Base(name) for name in BASES}


# ---- comparing the engine with ONNX Runtime ---------------------------------------------------


def _write(proto: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(proto.SerializeToString())
    return path


def ort_output(path: Path, x: np.ndarray, dynamic: bool) -> np.ndarray | None:
    """ONNX Runtime's output on the file through wno_edge.runtime, or None if ORT rejects the
    file or computes a non-finite output (an edit that is no valid model), or if the file is too
    ill-conditioned to be judged at TOLERANCE (an Add turned into a Div by a sum near 0): ORT's
    own output moves by more than TOLERANCE when the input moves by 2**-20 of itself, as it
    would by the rounding of another valid order of operations."""
    try:
        with runtime.load(path, backend="onnxruntime", threads=1, batch=len(x) if dynamic else None) as s:
            y = s.run(x).copy()
            nudged = x * (1 + 2.0**-20 * np.random.default_rng(0).choice([-1, 1], x.shape)).astype(np.float32)
            y_nudged = s.run(nudged).copy()
    except Exception:  # ORT raises its own types at load and at run
        return None
    if not (np.isfinite(y).all() and np.isfinite(y_nudged).all()):
        return None
    return y if np.abs(y_nudged - y).max() <= TOLERANCE * np.abs(y).max() / 4 else None


def native_verdict(path: Path, x: np.ndarray, y_ort: np.ndarray, lib: Path, dynamic: bool, **options) -> str | None:
    """None when the engine equals ORT within TOLERANCE or refuses in one line, else what went wrong."""
    try:
        session = runtime.load(
            path, backend="native", threads=1, batch=len(x) if dynamic else None, library=lib, **options
        )
    except WNOEdgeError as exc:
        message = str(exc)
        if "\n" in message or not message:
            return f"refused, but not in one line: {message[:300]!r}"
        return None
    except Exception as exc:
        return f"raised {type(exc).__name__} (not a WNOEdgeError): {str(exc)[:200]!r}"
    with session:
        if session.output_shape != y_ort.shape:
            return f"ran with output shape {session.output_shape}, ORT's is {y_ort.shape}"
        y = session.run(x).copy()
    scale = float(np.abs(y_ort).max())
    diff = float(np.abs(y.astype(np.float64) - y_ort).max()) if np.isfinite(y).all() else float("inf")
    if not diff <= TOLERANCE * scale:
        return f"ran and differs from ORT: max |y - y_ort| = {diff:.3g} > {TOLERANCE:g} * {scale:.3g}"
    return None


def must_run_and_equal(path: Path, x: np.ndarray, lib: Path, dynamic: bool, **options) -> None:
    """The file is not refused, and the engine's output equals ORT's."""
    y_ort = ort_output(path, x, dynamic)
    assert y_ort is not None, f"ONNX Runtime does not run {path.name}"
    with runtime.load(
        path, backend="native", threads=1, batch=len(x) if dynamic else None, library=lib, **options
    ) as s:
        y = s.run(x).copy()
    scale = float(np.abs(y_ort).max())
    assert np.abs(y - y_ort).max() <= TOLERANCE * scale, (float(np.abs(y - y_ort).max()), scale)


# ---- the structure checksum ---------------------------------------------------------------------


def _q(v: int) -> bytes:
    return struct.pack("<q", v)


def _s(v: bytes | str) -> bytes:
    raw = v.encode() if isinstance(v, str) else v
    return _q(len(raw)) + raw


def _bits(f: float) -> bytes:
    return _q(struct.unpack("<I", struct.pack("<f", f))[0])


def _one_node_model() -> onnx.ModelProto:
    """A one-node model with every attribute kind the digest reads (and one it does not), a
    symbolic and an unknown dimension, an output without a shape and one local function."""
    node = helper.make_node(
        "Mul",
        ["x", "w"],
        ["y"],
        name="ignored-name",
        doc_string="ignored",
        alpha=0.1,
        count=-3,
        mode=b"ab",
        scales=[1.5, -2.0],
        axes=[4, 5],
        value=numpy_helper.from_array(np.ones(2, np.float32)),
    )
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, None])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
    fn = helper.make_function("d", "F", ["X"], ["Y"], [helper.make_node("Identity", ["X"], ["Y"])], [])
    model = helper.make_model(
        helper.make_graph([node], "g", [x], [y], [w]),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("d", 1)],
        functions=[fn],
    )
    helper.set_model_props(model, {"anything": "not covered"})
    return model


def _one_node_bytes() -> bytes:
    """_one_node_model's canonical bytes, written out by hand from the layout in the brief."""
    out = _s("wno-structure-1")
    out += _q(2) + _s("") + _q(17) + _s("d") + _q(1)  # opset_import
    out += _q(1) + _s("x") + _q(TensorProto.FLOAT) + _q(3) + _q(-1) + _q(4) + _q(-1)  # inputs
    out += _q(1) + _s("y") + _q(TensorProto.FLOAT) + _q(-1)  # outputs: no shape
    out += _q(1) + _s("w") + _q(TensorProto.FLOAT) + _q(2) + _q(2) + _q(3)  # initializers
    out += _q(1) + _s("Mul") + _s("") + _q(2) + _s("x") + _s("w") + _q(1) + _s("y")  # one node
    out += _q(6)  # attributes, sorted by name as make_node writes them
    out += _s("alpha") + _q(1) + _bits(0.1)
    out += _s("axes") + _q(7) + _q(2) + _q(4) + _q(5)
    out += _s("count") + _q(2) + _q(-3)
    out += _s("mode") + _q(3) + _s(b"ab")
    out += _s("scales") + _q(6) + _q(2) + _bits(1.5) + _bits(-2.0)
    out += _s("value") + _q(4)  # TENSOR: nothing more
    out += _q(1) + _s("d") + _s("F")  # functions
    out += _q(1) + _s("Identity") + _s("") + _q(1) + _s("X") + _q(1) + _s("Y") + _q(0)
    return out


def test_structure_digest_of_a_model_built_by_hand():
    model = _one_node_model()
    assert [a.name for a in model.graph.node[0].attribute] == ["alpha", "axes", "count", "mode", "scales", "value"]
    expected = f"crc32:{zlib.crc32(_one_node_bytes()):08x}"
    assert structure_digest(model) == expected
    # the same value for the C++ digest (runtime/engine/graph.cpp) of the same model
    assert expected == "crc32:ca4998b6"


def test_structure_digest_covers_the_structure_only():
    model = _one_node_model()
    digest = structure_digest(model)

    def changed(edit) -> str:
        other = copy(model)
        edit(other)
        return structure_digest(other)

    # not covered: names of nodes, doc strings, metadata, value_info, weight values
    assert changed(lambda m: setattr(m.graph.node[0], "name", "other")) == digest
    assert changed(lambda m: setattr(m.graph.node[0], "doc_string", "other")) == digest
    assert changed(lambda m: m.metadata_props.add(key=Metadata.STRUCTURE_CHECKSUM, value=digest)) == digest
    assert changed(lambda m: m.graph.value_info.add(name="z")) == digest
    assert changed(lambda m: setattr(m.graph.initializer[0], "raw_data", bytes(24))) == digest
    # covered
    assert changed(lambda m: setattr(m.graph.node[0], "op_type", "Add")) != digest
    assert changed(lambda m: setattr(m.graph.node[0], "domain", "d")) != digest
    assert changed(lambda m: m.graph.node[0].input.reverse()) != digest
    assert changed(lambda m: setattr(m.graph.node[0].attribute[0], "f", 0.2)) != digest
    assert changed(lambda m: m.graph.node[0].attribute[1].ints.append(6)) != digest
    assert changed(lambda m: setattr(m.graph.node[0].attribute[3], "s", b"ac")) != digest
    assert changed(lambda m: setattr(m.opset_import[0], "version", 18)) != digest
    assert changed(lambda m: setattr(m.graph.initializer[0], "name", "v")) != digest
    assert changed(lambda m: m.graph.initializer[0].dims.reverse()) != digest
    assert changed(lambda m: setattr(m.graph.input[0].type.tensor_type.shape.dim[2], "dim_value", 7)) != digest
    assert changed(lambda m: setattr(m.functions[0].node[0], "op_type", "Neg")) != digest


def test_every_export_writes_the_structure_checksum(bases, tmp_path):
    for base in bases.values():
        props = {p.key: p.value for p in base.proto.metadata_props}
        assert props[Metadata.STRUCTURE_CHECKSUM] == structure_digest(base.proto), base.name
    digests = {p.value for b in bases.values() for p in b.proto.metadata_props if p.key == Metadata.STRUCTURE_CHECKSUM}
    assert len(digests) == len(bases)  # six different graphs
    # export_onnx (what `wno-edge export` runs) writes the file with inferred shapes: the same digest
    path = tmp_path / "m.onnx"
    export_onnx(bases["direct"].model, path, resolution=RES, conv="direct", batch=1)
    written = onnx.load(path)
    props = {p.key: p.value for p in written.metadata_props}
    assert props[Metadata.STRUCTURE_CHECKSUM] == structure_digest(written) == structure_digest(bases["direct"].proto)


# ---- exports and their edits against ONNX Runtime ----------------------------------------------


@pytest.mark.parametrize("name", sorted(BASES))
def test_unedited_export_equals_onnxruntime(lib, bases, tmp_path, name):
    base = bases[name]
    path = _write(base.proto, tmp_path / "m.onnx")
    for verify in (True, False):
        must_run_and_equal(path, base.x, lib, base.dynamic, verify_checksum=verify)


_ISA_CHILD = """
import json, sys
import numpy as np
from wno_edge import runtime
out = {}
for path, x, dynamic in json.loads(sys.argv[2]):
    x = np.load(x)
    with runtime.load(path, backend="native", threads=2, batch=len(x) if dynamic else None, library=sys.argv[1]) as s:
        out[path] = [float(np.abs(s.run(x) - np.load(path + ".ort.npy")).max()), s.plan]
print(json.dumps(out))
"""


def test_a_silu_projection_runs_fused(lib, bases, tmp_path):
    """The projection's SiLU (PhysicsNeMo's decoder) is a pattern too: the whole graph fuses."""
    base = bases["silu"]
    path = _write(base.proto, tmp_path / "silu.onnx")
    with runtime.load(path, backend="native", library=lib, batch=len(base.x)) as s:
        assert "all covered by fusion patterns" in s.plan.splitlines()[0], s.plan
        assert "projection MLP (GEMM, SiLU)" in s.plan
    must_run_and_equal(path, base.x, lib, base.dynamic)


@pytest.mark.parametrize("isa", ["avx2", "generic"])
def test_every_isa_build_of_the_fused_stages_equals_onnxruntime(lib, bases, tmp_path, isa):
    """The engine's loops (engine/compute_isa.cpp) are compiled once per ISA and picked once per
    process: a child process with $WNO_CPU_ISA runs every export on that build (the default run
    covers the best one), at 2 threads, against ONNX Runtime."""
    import json
    import platform
    import subprocess
    import sys

    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    if platform.machine() != "x86_64" or (isa == "avx2" and " avx2 " not in flags):
        pytest.skip(f"no {isa} build on this CPU")
    files, scale = [], {}
    for name, base in bases.items():
        path = _write(base.proto, tmp_path / f"{name}.onnx")
        y_ort = ort_output(path, base.x, base.dynamic)
        np.save(f"{path}.ort.npy", y_ort)
        np.save(tmp_path / f"{name}.x.npy", base.x)
        files.append([str(path), str(tmp_path / f"{name}.x.npy"), base.dynamic])
        scale[str(path)] = float(np.abs(y_ort).max())
    env = {**os.environ, "WNO_CPU_ISA": isa, "WNO_POOL_ADAPT": "0"}
    run = subprocess.run(
        [sys.executable, "-c", _ISA_CHILD, str(lib), json.dumps(files)], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    for path, (err, plan) in json.loads(run.stdout).items():
        assert f", {isa}\n" in plan, plan  # the fused stages ran on this build
        assert err <= TOLERANCE * scale[path], (path, err, scale[path])


FAST_SAMPLE = 10  # edits ORT runs, per family, in `make test`; the heavy tier runs every edit of every export


def _edit_params():
    params = [
        pytest.param(name, family, FAST_SAMPLE, id=f"{name}-{family}-sample")
        for name in ("winograd", "line")
        for family in FAMILIES
    ]
    params += [
        pytest.param(name, family, None, id=f"{name}-{family}-all", marks=pytest.mark.heavy)
        for name in BASES
        for family in FAMILIES
    ]
    return params


@pytest.mark.parametrize("name, family, sample", _edit_params())
def test_edited_export_equals_onnxruntime_or_is_refused(lib, bases, tmp_path, name, family, sample):
    """verify_checksum=False: the stale weights checksum cannot be what refuses an edit."""
    base = bases[name]
    edits = list(FAMILIES[family](base.proto))
    assert edits, f"{family} has no edit of {name}"
    if sample is not None:  # a fixed random order, until `sample` edits ORT runs were compared
        order = np.random.default_rng(zlib.crc32(f"{name}-{family}".encode())).permutation(len(edits))
        edits = [edits[i] for i in order]
    wrong, skipped, counted = [], [], 0
    for i, (label, proto) in enumerate(edits):
        if sample is not None and counted == sample:
            break
        path = _write(proto, tmp_path / f"e{i}.onnx")
        y_ort = ort_output(path, base.x, base.dynamic)
        if y_ort is None:
            skipped.append(label)
            continue
        counted += 1
        problem = native_verdict(path, base.x, y_ort, lib, base.dynamic, verify_checksum=False)
        if problem is not None:
            wrong.append(f"{label}: {problem}")
    assert counted, f"ONNX Runtime rejected every edit: {skipped}"
    assert not wrong, (
        f"{len(wrong)} of the {counted} compared edits ({len(skipped)} skipped: ORT rejects them or ill-conditioned):\n"
        + "\n".join(wrong)
    )


def _two_edits(proto: onnx.ModelProto, data) -> tuple[str, onnx.ModelProto]:
    """Hypothesis picks an edit of one family, then one of another family on its result."""
    labels = []
    for _ in range(2):
        family = data.draw(st.sampled_from(sorted(FAMILIES)))
        edits = list(FAMILIES[family](proto))
        if not edits:
            continue
        label, proto = edits[data.draw(st.integers(0, len(edits) - 1))]
        labels.append(label)
        proto = copy(proto)
    return " + ".join(labels), proto


@pytest.mark.parametrize(
    "name, examples",
    [pytest.param("winograd", 8, id="winograd"), pytest.param("line", 8, id="line")]
    + [
        pytest.param(name, 60, id=f"{name}-many", marks=pytest.mark.heavy)
        for name in ("winograd", "neuralop", "fno", "line")
    ],
)
def test_random_edit_pairs_equal_onnxruntime_or_are_refused(lib, bases, tmp_path, name, examples):
    """Two edits at once (the fused block may end anywhere, reference kernels around it)."""
    base = bases[name]

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        label, proto = _two_edits(base.proto, data)
        path = _write(proto, tmp_path / "pair.onnx")
        y_ort = ort_output(path, base.x, base.dynamic)
        assume(y_ort is not None)
        problem = native_verdict(path, base.x, y_ort, lib, base.dynamic, verify_checksum=False)
        assert problem is None, f"{label}: {problem}"

    check()


@pytest.mark.parametrize("batch", [None, 1], ids=["dynamic", "batch1"])
def test_foreign_graph_with_an_exports_metadata(lib, tmp_path, batch):
    """y = 2x carrying a real export's metadata (checksums included) and all its initializers."""
    proto = build_model_proto(make_model(*RES, width=8, modes=(3, 4), layers=2, cout=2), batch=batch)
    foreign = _write(foreign_graph(proto), tmp_path / "foreign.onnx")
    x = np.random.default_rng(0).standard_normal((1, 2, *RES)).astype(np.float32)
    y_ort = ort_output(foreign, x, batch is None)
    assert y_ort is not None and np.array_equal(y_ort, 2 * x)
    for verify in (False, True):
        problem = native_verdict(foreign, x, y_ort, lib, batch is None, verify_checksum=verify)
        assert problem is None, f"verify_checksum={verify}: {problem}"


def _onnxsim(proto: onnx.ModelProto) -> onnx.ModelProto:
    onnxsim = pytest.importorskip("onnxsim")
    simplified, ok = onnxsim.simplify(proto)
    assert ok
    return simplified


TOOLS = {
    "onnxsim": _onnxsim,
    "inlined": lambda proto: onnx.inliner.inline_local_functions(proto),
}


@pytest.mark.parametrize(
    "tool, name",
    [
        pytest.param(
            tool, name, id=f"{tool}-{name}", marks=() if name in ("winograd", "opset20") else pytest.mark.heavy
        )
        for tool in TOOLS
        for name in BASES
    ],
)
def test_tool_rewrites_run(lib, bases, tmp_path, tool, name):
    """A file onnxsim simplified or onnx.inliner inlined (a new graph, the old metadata): computed,
    not refused, equal to ORT; with checksum verification on too (the structure checksum differs:
    edited after export, so the stale weights checksum is not applied)."""
    base = bases[name]
    rewritten = TOOLS[tool](base.proto)
    if base.proto.functions or tool == "onnxsim":  # inlining a file without functions changes nothing
        assert structure_digest(rewritten) != structure_digest(base.proto)
    path = _write(rewritten, tmp_path / f"{tool}.onnx")
    for verify in (False, True):
        must_run_and_equal(path, base.x, lib, base.dynamic, verify_checksum=verify)
    # and as fast: inlined WinogradConvs are 3x3 Convs the fused layers run; onnxsim's folds (the
    # domain Pad into the lift's Conv, each GELU's * 0.5 into the next Conv) are patterns too
    with runtime.load(path, backend="native", library=lib, batch=base.x.shape[0]) as s:
        first = s.plan.splitlines()[0]
    assert first.startswith("plan: fused WNO pipeline") and "all covered by fusion patterns" in first, first


# ---- the checksum policy ------------------------------------------------------------------------


def _without_structure_key(proto: onnx.ModelProto) -> None:
    keep = [p for p in proto.metadata_props if p.key != Metadata.STRUCTURE_CHECKSUM]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)


@pytest.mark.parametrize("old", [False, True], ids=["structure-unchanged", "file-without-structure-key"])
def test_flipped_weight_is_refused_as_corrupt(lib, bases, tmp_path, old):
    proto = copy(bases["winograd"].proto)
    _flip_weight(proto)
    if old:
        _without_structure_key(proto)
    assert structure_digest(proto) == structure_digest(bases["winograd"].proto)
    path = _write(proto, tmp_path / "flipped.onnx")
    with pytest.raises(WNOEdgeError, match="checksum") as e:
        runtime.load(path, backend="native", library=lib, batch=2)
    assert "\n" not in str(e.value)


def test_file_without_structure_key_runs(lib, bases, tmp_path):
    """A file written before the structure checksum: verified by its weights checksum as before."""
    proto = copy(bases["winograd"].proto)
    _without_structure_key(proto)
    must_run_and_equal(_write(proto, tmp_path / "old.onnx"), bases["winograd"].x, lib, True)


# ---- hostile loads --------------------------------------------------------------------------------


def _graph_names(proto: onnx.ModelProto) -> set[str]:
    names = {v.name for v in (*proto.graph.input, *proto.graph.output)} | {t.name for t in proto.graph.initializer}
    return names | {o for n in proto.graph.node for o in n.output}


@pytest.mark.parametrize("verify", [False, True])
def test_nan_weight_is_refused_naming_the_initializer(lib, bases, tmp_path, verify):
    """A NaN in a weight (the weights checksum recomputed, so it matches) is no corruption the
    checksum sees: the engine names the initializer, with or without verification."""
    proto = copy(bases["winograd"].proto)
    t = next(t for t in proto.graph.initializer if t.name == "layers.0.kernel")
    a = numpy_helper.to_array(t).copy()
    a[1, 2, 1, 1] = np.nan
    t.CopyFrom(numpy_helper.from_array(a, t.name))
    _rechecksum(proto)
    path = _write(proto, tmp_path / "nan.onnx")
    t0 = time.perf_counter()
    with pytest.raises(WNOEdgeError, match="layers.0.kernel") as e:
        runtime.load(path, backend="native", library=lib, batch=2, verify_checksum=verify)
    assert time.perf_counter() - t0 < 1.0
    assert "\n" not in str(e.value)


_OPEN_IN_CHILD = """
import ctypes, os, time
from wno_edge.runtime.native_backend import _Options, load_library
lib = load_library({lib!r})
opts = _Options()
lib.wno_engine_default_options(ctypes.byref(opts))
opts.verify_checksum = 0
engine, error = ctypes.c_void_p(), ctypes.create_string_buffer(1024)
t0 = time.perf_counter()
status = lib.wno_engine_open(os.fsencode({path!r}), ctypes.byref(opts), ctypes.byref(engine), error, len(error))
seconds = time.perf_counter() - t0
if status == 0:
    lib.wno_engine_close(engine)
print(status, round(seconds, 3), error.value.decode(errors="replace"), sep="|")
"""


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_c_abi_refuses_a_fifo_and_a_directory(lib, tmp_path, kind):
    """wno_engine_open directly (runtime.load stats the path first): an error status and one
    line, within a second; opening a FIFO must not wait for a writer."""
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    run = run_bounded(_OPEN_IN_CHILD.format(lib=str(lib), path=str(path)), timeout=10)
    assert run.returncode == 0, run.stderr[-2000:]
    status, seconds, message = run.stdout.rstrip("\n").split("|", 2)
    assert int(status) != 0, f"wno_engine_open accepted a {kind}"
    assert message and "\n" not in message and float(seconds) < 1.0, (seconds, message)


_LOAD_IN_CHILD = """
import time
from wno_edge import runtime
from wno_edge.errors import WNOEdgeError
t0 = time.perf_counter()
try:
    s = runtime.load({path!r}, backend="native", library={lib!r}, threads=1{batch})
except WNOEdgeError as e:
    print("refused", round(time.perf_counter() - t0, 3), str(e).replace("\\n", "\\\\n"), sep="|")
else:
    print("loaded", round(time.perf_counter() - t0, 3), s.arena_bytes, s.input_shape, sep="|")
"""


@pytest.mark.parametrize("how", ["load-batch", "metadata-batch"])
def test_huge_batch_is_refused_naming_a_tensor(lib, tmp_path, how):
    """A dynamic-batch export of a bigger model at batch 65536 (~100 GB of activations), asked
    for by runtime.load(batch=65536) or claimed by the file's wno_edge.batch metadata: refused in
    one line naming a tensor, within a second, or loaded only within the child's memory cap."""
    model = make_model(64, 64, width=32, modes=(8, 8), layers=4)
    proto = build_model_proto(model)  # dynamic batch
    batch = ", batch=65536"
    if how == "metadata-batch":
        _set_meta(proto, Metadata.BATCH, "65536")
        batch = ""
    path = _write(proto, tmp_path / "big.onnx")
    run = run_bounded(_LOAD_IN_CHILD.format(path=str(path), lib=str(lib), batch=batch), timeout=60)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    verdict, seconds, *rest = run.stdout.rstrip("\n").split("|")
    assert float(seconds) < 1.0, run.stdout
    if verdict == "loaded":
        assert int(rest[0]) < MEMORY_LIMIT, run.stdout
        return
    message = rest[0]
    assert "\\n" not in message, message
    named = sorted(n for n in _graph_names(proto) if re.search(rf"(?<![\w.]){re.escape(n)}(?![\w.])", message))
    assert named, f"refused without naming a tensor: {message}"


def test_the_memory_cap_holds_what_runs_not_the_sum_of_every_value(lib, tmp_path):
    """max_memory_mb caps the memory the engine lays out (the fused arena, the reference kernels'
    liveness plan), not the sum of every value of the graph: a batch-64 export whose values add up
    to 141 MiB runs fused in a 7 MiB arena (activations for one pass of images) under a 64 MiB
    cap, and a cap below its arena is refused in one line."""
    path = _write(
        build_model_proto(make_model(32, 32, width=16, modes=(6, 6), layers=2), batch=64), tmp_path / "b.onnx"
    )
    x = np.random.default_rng(0).standard_normal((64, 2, 32, 32)).astype(np.float32)
    with runtime.load(path, backend="native", library=lib, max_memory_mb=64) as s:
        assert "all covered by fusion patterns" in s.plan.splitlines()[0]
        arena = float(re.search(r"arena ([\d.]+) MiB", s.plan).group(1))
        assert arena < 8
        y = s.run(x).copy()
    y_ort = ort_output(path, x, dynamic=False)
    assert np.abs(y - y_ort).max() <= TOLERANCE * float(np.abs(y_ort).max())
    with pytest.raises(WNOEdgeError, match="memory cap of 6 MiB") as info:
        runtime.load(path, backend="native", library=lib, max_memory_mb=6)
    assert "\n" not in str(info.value)


def test_the_policy_is_documented_with_the_metadata_keys():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "export.md").read_text()
    assert Metadata.STRUCTURE_CHECKSUM in doc and Metadata.WEIGHTS_CHECKSUM in doc and "edited after export" in doc
