"""The native engine's graph builder and reference kernels (runtime/engine/graph.cpp,
reference.cpp) against ONNX Runtime: hypothesis draws small graphs of the supported ops (any
rank, broadcasting, Conv 1D/2D/3D, Slice/Pad/Reshape/Transpose corner cases, MatMul with 1-D
operands, Gelu, WinogradConv with its local function), runs them through wno_graph_probe
(runtime/tests/graph_probe.cpp) and ONNX Runtime's CPU provider, and compares the outputs. The
refusals are one line each and name what they refuse."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from native_build import BUILD, NATIVE_OPTIONS, RUNTIME, cmake_build
from onnx import TensorProto, helper, numpy_helper

from wno_edge.onnx.graph import ir_version_for, winograd_conv_function, winograd_conv_node

INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)
EXAMPLES = 60


@pytest.fixture(scope="module")
def probe() -> Path:
    cmake_build(BUILD, RUNTIME, NATIVE_OPTIONS, ("wno_graph_probe",))
    return BUILD / "engine" / "wno_graph_probe"


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A directory for the hypothesis tests (one file, rewritten per example)."""
    return tmp_path_factory.mktemp("graphs")


def model(
    nodes,
    inits,
    in_shape,
    out_name,
    *,
    opset=20,
    batch_symbolic=False,
    functions=(),
    out_shape=None,
    in_name="x",
) -> onnx.ModelProto:
    dims = ["N", *in_shape[1:]] if batch_symbolic else list(in_shape)
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
        initializer=inits,
    )
    opsets = [helper.make_opsetid("", opset)]
    if functions:
        opsets.append(helper.make_opsetid("wno_edge", 1))
    return helper.make_model(graph, opset_imports=opsets, functions=list(functions), ir_version=ir_version_for(opset))


def run_probe(probe: Path, tmp: Path, m: onnx.ModelProto, x: np.ndarray, *args: str, batch: int | None = None):
    """(output or None, stderr line)."""
    path = tmp / "m.onnx"
    path.write_bytes(m.SerializeToString())
    r = subprocess.run(
        [str(probe), *args, str(path), *([str(batch)] if batch else [])],
        input=x.astype(np.float32).tobytes(),
        capture_output=True,
        timeout=60,
    )
    if r.returncode != 0:
        assert r.returncode == 2, r.stderr
        return None, r.stderr.decode()
    return np.frombuffer(r.stdout, np.float32), r.stderr.decode()


def ort_run(m: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    s = ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def assert_same(probe: Path, tmp: Path, m: onnx.ModelProto, x: np.ndarray, *args: str, batch=None) -> None:
    want = ort_run(m, x)
    got, err = run_probe(probe, tmp, m, x, *args, batch=batch)
    assert got is not None, err
    assert got.size == want.size, (got.size, want.shape)
    diff = np.max(np.abs(got - want.ravel())) if want.size else 0.0
    assert diff <= 1e-5 * max(1.0, float(np.max(np.abs(want)))), (diff, np.max(np.abs(want)))


def refusal(probe: Path, tmp: Path, m: onnx.ModelProto, *args: str, batch=None) -> str:
    got, err = run_probe(probe, tmp, m, np.zeros(1, np.float32), *args, batch=batch)
    assert got is None, "accepted"
    line = err.rstrip("\n")
    assert "\n" not in line and 0 < len(line) <= 200 and line.isprintable(), repr(err)
    return line


def f32(rng, shape, lo=None):
    a = rng.standard_normal(shape).astype(np.float32)
    if lo is not None:  # |a| >= lo (divisors)
        a = np.where(a >= 0, a + lo, a - lo).astype(np.float32)
    return a


class Gen:
    """Builds one random graph: a chain over the latest values, with side inputs."""

    def __init__(self, draw, rng):
        self.draw, self.rng = draw, rng
        self.nodes, self.inits, self.values = [], [], []
        self.k = 0

    def name(self, base):
        self.k += 1
        return f"{base}{self.k}"

    def init(self, a, base="w"):
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(a), n))
        return n

    def ints(self, values, base="i"):
        return self.init(np.asarray(values, np.int64), base)

    def add(self, op, inputs, shape, **attrs):
        out = self.name("v")
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.name("n"), **attrs))
        self.values.append((out, tuple(int(d) for d in shape)))
        return out

    def dims(self, rank, lo=1, hi=4):
        return [self.draw(st.integers(lo, hi)) for _ in range(rank)]

    # ---- ops: each takes the source (name, shape) and appends a node (or returns False)
    def unary(self, src, shape):
        op = self.draw(st.sampled_from(["Erf", "Sigmoid", "Identity", "Gelu"]))
        attrs = {"approximate": self.draw(st.sampled_from(["none", "tanh"]))} if op == "Gelu" else {}
        if op == "Gelu" and self.draw(st.booleans()):
            attrs = {}
        self.add(op, [src], shape, **attrs)

    def binary(self, src, shape):
        op = self.draw(st.sampled_from(["Add", "Sub", "Mul", "Div"]))
        others = [v for v in self.values if _broadcasts(v[1], shape)]
        if op != "Div" and self.draw(st.booleans()) and others:
            other, oshape = self.draw(st.sampled_from(others))
        else:  # an initializer of a broadcastable shape, maybe of a higher rank
            extra = self.dims(self.draw(st.integers(0, 1)))
            tail = [
                d if self.draw(st.booleans()) else 1
                for d in shape[len(shape) - self.draw(st.integers(0, len(shape))) :]
            ]
            oshape = tuple(extra + tail) if len(tail) == len(shape) and len(shape) < 5 else tuple(tail)
            other = self.init(f32(self.rng, oshape, 0.5 if op == "Div" else None))
        ins = [src, other] if op == "Div" or self.draw(st.booleans()) else [other, src]
        self.add(op, ins, np.broadcast_shapes(shape, oshape))

    def matmul(self, src, shape):
        if len(shape) == 1 or self.draw(st.booleans()):  # src @ B
            k = shape[-1]
            kind = self.draw(st.sampled_from(["vec", "mat", "batch"]))
            if kind == "vec":
                b = (k,)
            elif kind == "mat":
                b = (k, self.draw(st.integers(1, 4)))
            else:
                batch = [self.draw(st.sampled_from([1, d])) for d in shape[:-2]][-2:] or [2]
                b = (*batch, k, self.draw(st.integers(1, 4)))
            ins = [src, self.init(f32(self.rng, b))]
            out = np.matmul(np.zeros(shape), np.zeros(b)).shape
        else:  # A @ src
            k = shape[-2]
            a = (k,) if self.draw(st.booleans()) else (self.draw(st.integers(1, 4)), k)
            ins = [self.init(f32(self.rng, a)), src]
            out = np.matmul(np.zeros(a), np.zeros(shape)).shape
        if len(out) == 0:
            return False
        self.add("MatMul", ins, out)

    def reshape(self, src, shape):
        total = int(np.prod(shape))
        factors = []
        n = total
        for p in (2, 3, 5, 7):
            while n % p == 0:
                factors.append(p)
                n //= p
        if n > 1:
            factors.append(n)
        perm = self.draw(st.permutations(factors)) if factors else []
        target = []
        for f in perm:
            if target and self.draw(st.booleans()) and len(target) < 5:
                target[-1] *= f
            elif len(target) < 5:
                target.append(f)
            else:
                target[-1] *= f
        target = target or [1]
        if self.draw(st.booleans()):
            target.insert(self.draw(st.integers(0, len(target))), 1)
        spec = list(target)
        for i in range(min(len(spec), len(shape))):
            if spec[i] == shape[i] and self.draw(st.booleans()):
                spec[i] = 0
        if self.draw(st.booleans()):
            spec[self.draw(st.integers(0, len(spec) - 1))] = -1
        self.add("Reshape", [src, self.ints(spec, "shape")], target)

    def transpose(self, src, shape):
        if self.draw(st.booleans()):
            perm = self.draw(st.permutations(range(len(shape))))
            self.add("Transpose", [src], [shape[p] for p in perm], perm=list(perm))
        else:
            self.add("Transpose", [src], shape[::-1])

    def pad(self, src, shape):
        r = len(shape)
        axes = list(range(r))
        use_axes = self.draw(st.booleans())
        if use_axes:
            axes = self.draw(st.lists(st.integers(0, r - 1), min_size=1, max_size=r, unique=True))
        begin = [self.draw(st.integers(max(-1, 1 - shape[a]), 2)) for a in axes]
        end = [self.draw(st.integers(max(-1, 1 - shape[a] - b), 2)) for a, b in zip(axes, begin, strict=True)]
        out = list(shape)
        for a, b, e in zip(axes, begin, end, strict=True):
            out[a] += b + e
        ins = [src, self.ints(begin + end, "pads")]
        if self.draw(st.booleans()):
            ins.append(self.init(np.array(self.draw(st.sampled_from([0.0, 1.5, -2.0])), np.float32), "cv"))
        if use_axes:
            if len(ins) == 2:
                ins.append("")
            ins.append(self.ints([a - r if self.draw(st.booleans()) else a for a in axes], "axes"))
        self.add("Pad", ins, out, mode="constant")

    def slice(self, src, shape):
        r = len(shape)
        axes = self.draw(st.lists(st.integers(0, r - 1), min_size=1, max_size=r, unique=True))
        edge = st.sampled_from([INT64_MAX, INT64_MIN, -100, 100])
        starts, ends, steps, out = [], [], [], list(shape)
        for a in axes:
            d = shape[a]
            step = self.draw(st.sampled_from([1, 1, 2, 3, -1, -2]))
            start = self.draw(st.one_of(st.integers(-d - 1, d + 1), edge))
            end = self.draw(st.one_of(st.integers(-d - 1, d + 1), edge))
            n = len(range(d)[slice(start, end, step)])
            if n == 0:
                return False
            starts.append(start)
            ends.append(end)
            steps.append(step)
            out[a] = n
        ins = [src, self.ints(starts, "starts"), self.ints(ends, "ends")]
        full = sorted(axes) == list(range(len(axes))) and axes == sorted(axes)
        if not (full and all(s == 1 for s in steps) and self.draw(st.booleans())):
            ins.append(self.ints([a - r if self.draw(st.booleans()) else a for a in axes], "axes"))
            if any(s != 1 for s in steps) or self.draw(st.booleans()):
                ins.append(self.ints(steps, "steps"))
        self.add("Slice", ins, out)

    def conv(self, src, shape):
        if not 3 <= len(shape) <= 5:
            return False
        sp = len(shape) - 2
        c = shape[1]
        group = self.draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))
        m = group * self.draw(st.integers(1, 2))
        kernel = self.dims(sp, 1, 3)
        strides = self.dims(sp, 1, 3)
        dilations = self.dims(sp, 1, 2)
        auto_pad = self.draw(st.sampled_from(["NOTSET", "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"]))
        attrs = {"group": group} if group > 1 or self.draw(st.booleans()) else {}
        if self.draw(st.booleans()):
            attrs["kernel_shape"] = kernel
        if self.draw(st.booleans()):
            attrs["strides"] = strides
        else:
            strides = [1] * sp
        if auto_pad in ("NOTSET", "VALID") and self.draw(st.booleans()):  # ORT: SAME needs dilation 1
            attrs["dilations"] = dilations
        else:
            dilations = [1] * sp
        out = [shape[0], m]
        if auto_pad == "NOTSET":
            pads = self.dims(2 * sp, 0, 2) if self.draw(st.booleans()) else [0] * (2 * sp)
            if any(pads):
                attrs["pads"] = pads
            for i in range(sp):
                span = shape[2 + i] + pads[i] + pads[sp + i] - (kernel[i] - 1) * dilations[i] - 1
                if span < 0:
                    return False
                out.append(span // strides[i] + 1)
        else:
            attrs["auto_pad"] = auto_pad
            for i in range(sp):
                dk = (kernel[i] - 1) * dilations[i] + 1
                if auto_pad == "VALID":
                    if shape[2 + i] < dk:
                        return False
                    out.append((shape[2 + i] - dk) // strides[i] + 1)
                else:
                    out.append(-(-shape[2 + i] // strides[i]))
                    if (out[-1] - 1) * strides[i] + dk - shape[2 + i] < -1:
                        return False  # ONNX Runtime pads negatively; the engine refuses
        ins = [src, self.init(f32(self.rng, (m, c // group, *kernel)))]
        if self.draw(st.booleans()):
            ins.append(self.init(f32(self.rng, (m,))))
        self.add("Conv", ins, out, **attrs)


def _broadcasts(a, b) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return len(a) <= len(b)


OPS = ("unary", "binary", "matmul", "reshape", "transpose", "pad", "slice")


@st.composite
def graphs(draw, ops=OPS, ranks=(1, 5), conv_first=False):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    g = Gen(draw, rng)
    rank = draw(st.integers(*ranks))
    shape = tuple(g.dims(rank, 1, 4 if rank <= 3 else 3))
    g.values.append(("x", shape))
    count = draw(st.integers(2, 8))
    while len(g.nodes) < count:
        src, sshape = g.values[-1] if draw(st.integers(0, 3)) else draw(st.sampled_from(g.values))
        op = "conv" if conv_first and not g.nodes else draw(st.sampled_from(ops))
        if int(np.prod(sshape)) > 4096:
            op = "slice"
        if getattr(g, op)(src, sshape) is False:
            g.unary(src, sshape)
    out, oshape = g.values[-1]
    batch_symbolic = draw(st.booleans())
    out_dims = None if batch_symbolic else list(oshape)
    m = model(g.nodes, g.inits, shape, out, batch_symbolic=batch_symbolic, out_shape=out_dims, opset=20)
    x = rng.standard_normal(shape).astype(np.float32)
    return m, x, batch_symbolic


@settings(max_examples=EXAMPLES)
@given(graphs())
def test_random_graphs_compute_what_onnxruntime_computes(probe, work, case):
    m, x, symbolic = case
    assert_same(probe, work, m, x, batch=x.shape[0] if symbolic else None)


@settings(max_examples=EXAMPLES)
@given(graphs(ops=("conv", "conv", "unary", "binary", "pad", "slice", "transpose"), ranks=(3, 5), conv_first=True))
def test_random_convolutions_compute_what_onnxruntime_computes(probe, work, case):
    m, x, symbolic = case
    assert_same(probe, work, m, x, batch=x.shape[0] if symbolic else None)


@settings(max_examples=20)
@given(
    tile=st.sampled_from([2, 4, 6]),
    padding=st.sampled_from([0, 1]),
    c=st.integers(1, 3),
    m=st.integers(1, 3),
    hw=st.tuples(st.integers(3, 7), st.integers(3, 7)),
    batch=st.integers(1, 2),
    seed=st.integers(0, 2**32 - 1),
)
def test_winograd_conv_computes_its_local_function(probe, work, tile, padding, c, m, hw, batch, seed):
    rng = np.random.default_rng(seed)
    shape = (batch, c, *hw)
    inits = [numpy_helper.from_array(f32(rng, (m, c, 3, 3)), "W"), numpy_helper.from_array(f32(rng, (m,)), "B")]
    nodes = [
        winograd_conv_node("x", "W", "B", "y", tile=tile, padding=padding, name="wino"),
        helper.make_node("Gelu", ["y"], ["z"]),
    ]
    md = model(nodes, inits, shape, "z", functions=[winograd_conv_function(padding, 20)], batch_symbolic=True)
    assert_same(probe, work, md, rng.standard_normal(shape).astype(np.float32), batch=batch)


def small(nodes, inits=(), shape=(1, 4), out="y", **kw):
    return model(nodes, list(inits), shape, out, **kw)


def test_shapes_are_inferred_at_the_asked_batch(probe, tmp_path):
    inits = [numpy_helper.from_array(np.array([0, -1], np.int64), "s")]
    nodes = [
        helper.make_node("Reshape", ["x", "s"], ["r"]),
        helper.make_node("Transpose", ["r"], ["y"]),
    ]
    m = small(nodes, inits, shape=(1, 2, 3), batch_symbolic=True)
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    out = subprocess.run([str(probe), "--shapes", str(path), "5"], capture_output=True, text=True, check=True).stdout
    assert dict(line.split("\t") for line in out.splitlines()) == {
        "s": "[2]",
        "x": "[5,2,3]",
        "r": "[5,6]",
        "y": "[6,5]",
    }
    line = refusal(probe, tmp_path, small(nodes, inits, shape=(3, 2, 3)), batch=2)
    assert line == "the file has a fixed batch of 3, asked for 2"


def test_digest_flag_prints_eight_hex_digits(probe, tmp_path):
    path = tmp_path / "m.onnx"
    m = small([helper.make_node("Identity", ["x"], ["y"])])
    path.write_bytes(m.SerializeToString())
    a = subprocess.run([str(probe), "--digest", str(path)], capture_output=True, text=True, check=True).stdout.strip()
    m.graph.node[0].name = "renamed"  # names are not structure
    path.write_bytes(m.SerializeToString())
    b = subprocess.run([str(probe), "--digest", str(path)], capture_output=True, text=True, check=True).stdout.strip()
    m.graph.node[0].output[0] = "z"
    m.graph.output[0].name = "z"
    path.write_bytes(m.SerializeToString())
    c = subprocess.run([str(probe), "--digest", str(path)], capture_output=True, text=True, check=True).stdout.strip()
    assert len(a) == 8 and int(a, 16) >= 0 and a == b != c


def winograd_model(padding=1, body_padding=1, **conv_attrs):
    fn = winograd_conv_function(body_padding, 20)
    for k, v in conv_attrs.items():
        for a in fn.node[0].attribute:
            if a.name == k:
                a.CopyFrom(helper.make_attribute(k, v))
    inits = [
        numpy_helper.from_array(np.ones((2, 2, 3, 3), np.float32), "W"),
        numpy_helper.from_array(np.zeros(2, np.float32), "B"),
    ]
    node = winograd_conv_node("x", "W", "B", "y", tile=4, padding=padding)
    return small([node], inits, shape=(1, 2, 5, 5), functions=[fn])


def two_inputs() -> onnx.ModelProto:
    m = small([helper.make_node("Add", ["x", "x2"], ["y"])])
    m.graph.input.append(helper.make_tensor_value_info("x2", TensorProto.FLOAT, [1, 4]))
    return m


def refused_models():
    nan = numpy_helper.from_array(np.array([1.0, np.nan], np.float32), "w")
    half = numpy_helper.from_array(np.ones(4, np.float16), "h")
    s = numpy_helper.from_array(np.array([4], np.int64), "s")
    conv_w = numpy_helper.from_array(np.ones((1, 1, 3), np.float32), "cw")
    other_fn = helper.make_function(
        "custom", "Thing", ["a"], ["b"], [helper.make_node("Identity", ["a"], ["b"])], [helper.make_opsetid("", 20)]
    )
    with_other = small([helper.make_node("Thing", ["x"], ["y"], domain="custom")], functions=[other_fn])
    with_other.opset_import.append(helper.make_opsetid("custom", 1))
    sparse = small([helper.make_node("Identity", ["x"], ["y"])])
    sparse.graph.sparse_initializer.append(
        helper.make_sparse_tensor(
            numpy_helper.from_array(np.ones(1, np.float32), "sp"), numpy_helper.from_array(np.zeros(1, np.int64)), [4]
        )
    )
    bad = "\x01bad\nname" + "x" * 100
    external = small([helper.make_node("Identity", ["x"], ["y"])])
    e = external.graph.initializer.add()
    e.CopyFrom(numpy_helper.from_array(np.ones(4, np.float32), "e"))
    e.ClearField("raw_data")
    e.data_location = TensorProto.EXTERNAL
    e.external_data.add(key="location", value="weights.bin")
    return {
        "op Cos is not supported by the native engine": small([helper.make_node("Cos", ["x"], ["y"], name="c")]),
        "initializer w holds NaN or Inf": small([helper.make_node("Add", ["x", "w"], ["y"])], [nan], shape=(1, 2)),
        "initializer h is float16: the native engine runs float32 exports": small(
            [helper.make_node("Identity", ["x"], ["y"])], [half]
        ),
        "attribute foo is not supported": small(
            [helper.make_node("Conv", ["x", "cw"], ["y"], foo=1)], [conv_w], shape=(1, 1, 5)
        ),
        "auto_pad FOO is not supported": small(
            [helper.make_node("Conv", ["x", "cw"], ["y"], auto_pad="FOO")], [conv_w], shape=(1, 1, 5)
        ),
        "approximate x is not supported": small([helper.make_node("Gelu", ["x"], ["y"], approximate="x")]),
        "reads t before it is computed": small(
            [helper.make_node("Identity", ["t"], ["y"]), helper.make_node("Identity", ["x"], ["t"])]
        ),
        "writes t, which is already computed by another node": small(
            [
                helper.make_node("Identity", ["x"], ["t"]),
                helper.make_node("Identity", ["x"], ["t"]),
                helper.make_node("Identity", ["t"], ["y"]),
            ]
        ),
        "cannot reshape [1,4] to [3]": small(
            [helper.make_node("Reshape", ["x", "s"], ["y"])], [numpy_helper.from_array(np.array([3], np.int64), "s")]
        ),
        "do not broadcast": small(
            [helper.make_node("Add", ["x", "w"], ["y"])], [numpy_helper.from_array(np.ones(3, np.float32), "w")]
        ),
        "is declared [1,3], the graph computes [1,4]": small(
            [helper.make_node("Identity", ["x"], ["y"])], out_shape=[1, 3]
        ),
        "computes something else than the op: pads": winograd_model(padding=1, body_padding=0),
        "computes something else than the op: strides": winograd_model(strides=[2, 2]),
        "op custom::Thing (a model-local function) is not supported": with_other,
        "sparse initializers are not supported": sparse,
        "Gelu needs ONNX opset 20, the file imports 17": small([helper.make_node("Gelu", ["x"], ["y"])], opset=17),
        "node ?bad?name" + "x" * 55 + "... (Cos)": small([helper.make_node("Cos", ["x"], ["y"], name=bad)]),
        "mode reflect is not supported": small([helper.make_node("Pad", ["x", "s"], ["y"], mode="reflect")], [s]),
        "auto_pad SAME_UPPER with stride 4 crops the input [1,1,8]": small(
            [helper.make_node("Conv", ["x", "w1"], ["y"], auto_pad="SAME_UPPER", strides=[4])],
            [numpy_helper.from_array(np.ones((1, 1, 1), np.float32), "w1")],
            shape=(1, 1, 8),
        ),
        "auto_pad SAME_LOWER with dilations other than 1": small(
            [helper.make_node("Conv", ["x", "cw"], ["y"], auto_pad="SAME_LOWER", dilations=[2])],
            [conv_w],
            shape=(1, 1, 5),
        ),
        "input x (shape) must be an int64 initializer": small([helper.make_node("Reshape", ["x", "x"], ["y"])]),
        "input s is int64, not float32": small([helper.make_node("Add", ["x", "s"], ["y"])], [s]),
        "the graph input x has a symbolic dim 1; only the batch (dim 0) may be": model(
            [helper.make_node("Identity", ["x"], ["y"])], [], ["N", "C"], "y"
        ),
        "the graph has 2 inputs that are not initializers; the native engine runs exactly one": two_inputs(),
        "initializer e uses external data": external,
        "padding 2 is not 0 or 1": winograd_model(padding=2),
    }


@pytest.mark.parametrize("expected", list(refused_models()))
def test_refusals_are_one_line_naming_the_cause(probe, tmp_path, expected):
    line = refusal(probe, tmp_path, refused_models()[expected])
    assert expected in line, line


def test_values_over_the_limits_are_refused(probe, tmp_path):
    nodes = [helper.make_node("Pad", ["x", "p"], ["y"])]
    inits = [numpy_helper.from_array(np.array([0, 0, 0, 1000], np.int64), "p")]
    m = small(nodes, inits)
    assert refusal(probe, tmp_path, m, "--max-tensor-bytes", "1000") == (
        "value y of shape [1,1004] is larger than the limit of 1000 bytes"
    )
    assert "need more than the limit of 4000 bytes" in refusal(probe, tmp_path, m, "--max-total-bytes", "4000")
    huge = [numpy_helper.from_array(np.array([0, 0, 0, 2**31], np.int64), "p")]
    assert "is larger than the limit" in refusal(probe, tmp_path, small(nodes, huge))
    x = np.ones((1, 4), np.float32)
    assert_same(probe, tmp_path, m, x)


def test_the_winograd_function_body_is_optional_and_checked(probe, tmp_path):
    m = winograd_model()
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32)
    assert_same(probe, tmp_path, m, x)
    del m.functions[:]  # ONNX Runtime cannot run it then; the op alone is well defined
    got, err = run_probe(probe, tmp_path, m, x)
    assert got is not None and got.size == 2 * 25, err
