"""ONNX DFT on the native engine's graph builder and reference kernel (runtime/engine/graph.cpp,
reference.cpp) against ONNX Runtime's CPU provider: random shapes at opsets 17 (axis an
attribute) and 20 (axis an input), real and complex input, onesided, inverse, the IRFFT,
dft_length; a hand-built FNO layer in DFT form (rfft along W, DFT along H, the kept modes
sliced, complex mixing as MatMuls on [re, im], inverse DFT along H, IRFFT along W) also against
torch.fft; unsupported combinations refused in one line naming what they refuse."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from test_graph_reference import assert_same, model, probe, refusal, run_probe, work  # noqa: F401

F32 = TensorProto.FLOAT


def ints(name: str, values) -> TensorProto:
    return numpy_helper.from_array(np.asarray(values, np.int64), name)


def dft_model(shape, *, opset, axis=None, inverse=0, onesided=0, length=None):
    """One DFT node on input x; axis None: the op's default."""
    inits, inputs, attrs = [], ["x"], {}
    if inverse:
        attrs["inverse"] = inverse
    if onesided:
        attrs["onesided"] = onesided
    inputs.append("len" if length is not None else "")
    if length is not None:
        inits.append(ints("len", length))
    if axis is not None and opset >= 20:
        inputs.append("axis")
        inits.append(ints("axis", axis))
    elif axis is not None:
        attrs["axis"] = axis
    while inputs[-1] == "":
        inputs.pop()
    node = helper.make_node("DFT", inputs, ["y"], **attrs)
    return model([node], inits, list(shape), "y", opset=opset)


@st.composite
def dft_cases(draw):
    opset = draw(st.sampled_from([17, 20]))
    rank = draw(st.integers(2, 5))
    inverse = draw(st.integers(0, 1))
    onesided = draw(st.integers(0, 1))
    parts = 2 if inverse and onesided else 1 if onesided else draw(st.sampled_from([1, 2]))
    shape = [draw(st.integers(1, 4)) for _ in range(rank - 1)] + [parts]
    a = draw(st.integers(0, rank - 2))
    shape[a] = draw(st.integers(1, 12))
    length = None
    if inverse and onesided:  # the IRFFT reads n/2+1 bins: n is 2*(bins-1) or one more
        shape[a] = max(shape[a], 2)
        if draw(st.booleans()):
            length = 2 * (shape[a] - 1) + draw(st.integers(0, 1))
    elif draw(st.booleans()):
        length = draw(st.integers(1, 16))  # pads with zeros or truncates
    if opset == 17:
        axis = draw(st.sampled_from([None, a, a - rank])) if a == 1 else draw(st.sampled_from([a, a - rank]))
    else:
        axis = draw(st.sampled_from([None, a, a - rank])) if a == rank - 2 else draw(st.sampled_from([a, a - rank]))
    return shape, dict(opset=opset, axis=axis, inverse=inverse, onesided=onesided, length=length)


@settings(max_examples=80, deadline=None)
@given(case=dft_cases(), seed=st.integers(0, 2**31 - 1))
def test_dft_equals_onnxruntime(probe, work, case, seed):  # noqa: F811
    shape, options = case
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    assert_same(probe, work, dft_model(shape, **options), x)


@pytest.mark.parametrize("opset", [17, 20])
def test_dft_at_a_dynamic_batch(probe, work, opset):  # noqa: F811
    shape = [3, 10, 6, 1]
    m = dft_model(shape, opset=opset, axis=2, onesided=1)
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    x = np.random.default_rng(1).standard_normal([5, 10, 6, 1]).astype(np.float32)
    got, err = run_probe(probe, work, m, x, batch=5)
    assert got is not None, err
    want = np.fft.rfft(x[..., 0].astype(np.float64), axis=2)
    np.testing.assert_allclose(got.reshape(5, 10, 4, 2), np.stack([want.real, want.imag], -1), atol=1e-5)


@pytest.mark.parametrize(
    "shape, options, words",
    [
        ([2, 8, 2], dict(opset=17, onesided=1), "onesided forward DFT needs real input"),
        ([2, 5, 1], dict(opset=17, inverse=1, onesided=1), "onesided inverse DFT needs complex input"),
        ([2, 5, 2], dict(opset=20, inverse=1, onesided=1, length=12), "needs 7 bins on axis 1, the input has 5"),
        ([2, 8, 3], dict(opset=17), "neither 1 (real) nor 2 (complex)"),
        ([2, 8, 2], dict(opset=17, axis=2), "axis 2 is invalid for rank 3"),
        ([2, 8, 2], dict(opset=20, axis=-1), "axis -1 is invalid for rank 3"),
        ([2, 8, 2], dict(opset=17, length=0), "dft_length 0 is outside 1..65536"),
        ([2, 8, 2], dict(opset=20, length=1 << 17), "dft_length 131072 is outside"),
        ([2, 8, 2], dict(opset=16), "DFT needs ONNX opset 17, the file imports 16"),
    ],
)
def test_dft_refusals_are_one_line(probe, work, shape, options, words):  # noqa: F811
    assert words in refusal(probe, work, dft_model(shape, **options))


def test_dft_refuses_the_other_opsets_axis_form(probe, work):  # noqa: F811
    m = dft_model([2, 8, 2], opset=17)
    m.graph.node[0].input.extend(["", "axis"])
    m.graph.initializer.append(ints("axis", 1))
    assert "an axis input needs opset 20" in refusal(probe, work, m)
    m = dft_model([2, 8, 2], opset=20)
    m.graph.node[0].attribute.append(helper.make_attribute("axis", 1))
    assert "attribute axis is not supported" in refusal(probe, work, m)


def test_dft_refuses_a_computed_length(probe, work):  # noqa: F811
    m = dft_model([2, 8, 2], opset=20, length=8)
    m.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.array([8, 8], np.int64), "len"))
    assert "dft_length has 2 values, not one" in refusal(probe, work, m)
    m.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.array(8.0, np.float32), "len"))
    assert "(dft_length) must be an int64 initializer" in refusal(probe, work, m)


# The hand-built FNO layer: y = irfft2(per-mode mixing of the kept rfft2 modes) + W x, on (B, C, H, W).


def fno_layer_dft(c: int, o: int, h: int, w: int, m1: int, m2: int, weights, pointwise, *, opset: int):
    """weights: complex (2, c, o, m1, m2), the low and high row corners as in an FNO."""
    nodes, inits = [], []

    def op(kind, inputs, out, **attrs):
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def const(name, array, dtype=np.float32):
        if any(t.name == name for t in inits):  # shared by both corners
            return name
        inits.append(numpy_helper.from_array(np.asarray(array, dtype), name))
        return name

    def dft(x, out, axis, **attrs):
        inputs = [x]
        if "length" in attrs:
            inputs.append(const(f"{out}.length", attrs.pop("length"), np.int64))
        if opset >= 20:
            inputs += [""] * (2 - len(inputs)) + [const(f"{out}.axis", axis, np.int64)]
            return op("DFT", inputs, out, **attrs)
        return op("DFT", inputs, out, axis=axis, **attrs)

    v = op("Reshape", ["x", const("s_real", [0, 0, h, w, 1], np.int64)], "x_real")
    v = dft(v, "rfft_w", 3, onesided=1)  # (B, C, H, W/2+1, 2)
    v = op("Slice", [v, const("w0", [0], np.int64), const("w1", [m2], np.int64), const("ax3", [3], np.int64)], "kept_w")
    v = dft(v, "dft_h", 2)  # (B, C, H, m2, 2)
    # complex mixing on [re, im]: (m1, m2, B, 2, C) @ [W_re | W_im] (m1, m2, 1, C, 2*O), then
    # [xr wr, xr wi, xi wr, xi wi] @ combine (4, 2) = [re, im]
    combine = const("combine", [[1, 0], [0, 1], [0, 1], [-1, 0]])
    corners = []
    for k, (lo, hi) in enumerate([(0, m1), (h - m1, h)]):
        s = op(
            "Slice",
            [v, const(f"h{k}0", [lo], np.int64), const(f"h{k}1", [hi], np.int64), const("ax2", [2], np.int64)],
            f"corner{k}",
        )
        s = op("Transpose", [s], f"corner{k}.modes_first", perm=[2, 3, 0, 4, 1])
        wk = np.moveaxis(weights[k], (0, 1), (-2, -1))[:, :, None]  # (m1, m2, 1, C, O)
        s = op("MatMul", [s, const(f"mix{k}", np.concatenate([wk.real, wk.imag], -1))], f"corner{k}.mix")
        s = op("Reshape", [s, const("s_products", [0, 0, 0, 4, o], np.int64)], f"corner{k}.products")
        s = op("Transpose", [s], f"corner{k}.products_last", perm=[0, 1, 2, 4, 3])
        s = op("MatMul", [s, combine], f"corner{k}.complex")  # (m1, m2, B, O, 2)
        s = op("Transpose", [s], f"corner{k}.modes_last", perm=[2, 3, 0, 1, 4])  # (B, O, m1, m2, 2)
        pads = [0, 0, lo, 0, 0, 0, 0, h - hi, w // 2 + 1 - m2, 0]
        corners.append(op("Pad", [s, const(f"pads{k}", pads, np.int64)], f"corner{k}.placed"))
    v = op("Add", corners, "modes")  # (B, O, H, W/2+1, 2)
    v = dft(v, "idft_h", 2, inverse=1)
    v = dft(v, "irfft_w", 3, inverse=1, onesided=1, length=w)  # (B, O, H, W, 1)
    v = op("Reshape", [v, const("s_plane", [0, 0, h, w], np.int64)], "spectral")
    u = op("Conv", ["x", const("pw", pointwise[:, :, None, None])], "pointwise", kernel_shape=[1, 1])
    op("Add", [v, u], "y")
    return model(nodes, inits, [2, c, h, w], "y", opset=opset)


def fno_layer_torch(x, weights, pointwise, m1, m2):
    """The same layer as FNO implementations write it, with torch.fft."""
    xt = torch.from_numpy(x).double()
    ft = torch.fft.rfft2(xt)
    out = torch.zeros(x.shape[0], weights.shape[2], *ft.shape[2:], dtype=torch.complex128)
    w = torch.from_numpy(weights)
    out[:, :, :m1, :m2] = torch.einsum("bcxy,coxy->boxy", ft[:, :, :m1, :m2], w[0])
    out[:, :, -m1:, :m2] = torch.einsum("bcxy,coxy->boxy", ft[:, :, -m1:, :m2], w[1])
    y = torch.fft.irfft2(out, s=x.shape[-2:]) + torch.einsum("bchw,oc->bohw", xt, torch.from_numpy(pointwise).double())
    return y.numpy()


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("h, w, m1, m2", [(16, 16, 4, 5), (12, 15, 3, 8), (9, 10, 4, 6)])
def test_fno_layer_in_dft_form_equals_onnxruntime_and_torch(probe, work, opset, h, w, m1, m2):  # noqa: F811
    rng = np.random.default_rng(h * w + opset)
    c, o = 3, 4
    weights = (rng.standard_normal((2, c, o, m1, m2)) + 1j * rng.standard_normal((2, c, o, m1, m2))) / c
    pointwise = rng.standard_normal((o, c)).astype(np.float32)
    m = fno_layer_dft(c, o, h, w, m1, m2, weights, pointwise, opset=opset)
    x = rng.standard_normal((2, c, h, w)).astype(np.float32)
    assert_same(probe, work, m, x)
    got, err = run_probe(probe, work, m, x)
    assert got is not None, err
    want = fno_layer_torch(x, weights, pointwise.astype(np.float64), m1, m2)
    assert np.max(np.abs(got - want.ravel())) <= 1e-5 * np.max(np.abs(want))


def test_dft_tables_count_against_the_memory_limit(probe, work):  # noqa: F811
    """A DFT's cos/sin table (16 bytes a point, one per length) is part of the reference plan's
    bytes: 512 KiB of values and a 1 MiB table pass a 1 MB cap on the values, not on the plan."""
    m = dft_model([1, 2, 2], opset=20, axis=1, length=1 << 16)
    x = np.ones([1, 2, 2], np.float32)
    got, err = run_probe(probe, work, m, x, "--max-total-bytes", str(2_000_000))
    assert got is not None, err
    assert "the reference plan needs 1572928 bytes, more than the limit of 1000000" in refusal(
        probe, work, m, "--max-total-bytes", str(1_000_000)
    )
