"""winograd_conv2d and the F(m,3) matrices against direct correlation and F.conv2d."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from golden import U_FP64, assert_within_bound, winograd_error_bound
from hypothesis import given, settings
from hypothesis import strategies as st

from wno_edge import winograd
from wno_edge.winograd import MATRICES, TILES, conv3x3_cost, matrices, winograd_conv2d

F32_TOLERANCE = {2: 1e-6, 4: 5e-6, 6: 2e-5}  # max abs error / max |y|, C = 64


def correlate1d(d, g):
    return np.array([d[i : i + 3] @ g for i in range(len(d) - 2)])


@pytest.mark.parametrize("tile", TILES)
def test_matrices_are_exact_1d_minimal_filtering(tile):
    mats = matrices(tile)
    assert mats.BT.shape == (mats.a, mats.a) and mats.G.shape == (mats.a, 3) and mats.AT.shape == (tile, mats.a)
    rng = np.random.default_rng(tile)
    for _ in range(20):
        d, g = rng.standard_normal(mats.a), rng.standard_normal(3)
        y = mats.AT @ ((mats.G @ g) * (mats.BT @ d))
        np.testing.assert_allclose(y, correlate1d(d, g), rtol=0, atol=1e-12)


@pytest.mark.parametrize("tile", TILES)
def test_matrices_are_exact_2d_minimal_filtering(tile):
    mats = matrices(tile)
    rng = np.random.default_rng(10 + tile)
    d, g = rng.standard_normal((mats.a, mats.a)), rng.standard_normal((3, 3))
    y = mats.AT @ ((mats.G @ g @ mats.G.T) * (mats.BT @ d @ mats.BT.T)) @ mats.AT.T
    direct = np.array([[np.sum(d[i : i + 3, j : j + 3] * g) for j in range(tile)] for i in range(tile)])
    np.testing.assert_allclose(y, direct, rtol=0, atol=1e-11)


def test_only_supported_tiles():
    assert set(MATRICES) == set(TILES) == {2, 4, 6}
    with pytest.raises(ValueError, match="tile"):
        winograd_conv2d(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3), tile=3)
    with pytest.raises(ValueError, match="padding"):
        winograd_conv2d(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3), padding=2)
    with pytest.raises(ValueError, match="channels"):
        winograd_conv2d(torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match="too small"):
        winograd_conv2d(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 3, 3), padding=0)


@pytest.mark.parametrize("tile", TILES)
def test_float32_accuracy_with_64_input_channels(tile):
    g = torch.Generator().manual_seed(tile)
    x = torch.randn(2, 64, 37, 45, generator=g)
    w = torch.randn(32, 64, 3, 3, generator=g) / (3 * 8)
    b = torch.randn(32, generator=g)
    expected = F.conv2d(x.double(), w.double(), b.double(), padding=1)
    y = winograd_conv2d(x, w, b, padding=1, tile=tile)
    assert y.dtype == torch.float32 and y.shape == expected.shape
    rel = ((y.double() - expected).abs().max() / expected.abs().max()).item()
    assert rel <= F32_TOLERANCE[tile], rel
    # A wrong transform would be off by O(1): make sure the check is meaningful.
    assert rel > 0


@pytest.mark.parametrize("tile", TILES)
def test_float64_agrees_to_1e12(tile):
    g = torch.Generator().manual_seed(100 + tile)
    x = torch.randn(1, 64, 30, 31, generator=g, dtype=torch.float64)
    w = torch.randn(16, 64, 3, 3, generator=g, dtype=torch.float64) / 24
    expected = F.conv2d(x, w, padding=1)
    y = winograd_conv2d(x, w, tile=tile)
    assert ((y - expected).abs().max() / expected.abs().max()).item() < 1e-12


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 6),
    k=st.integers(1, 6),
    h=st.integers(1, 19),
    w=st.integers(1, 19),
    padding=st.sampled_from([0, 1]),
    tile=st.sampled_from(TILES),
    bias=st.booleans(),
)
def test_matches_conv2d_for_any_shape(n, c, k, h, w, padding, tile, bias):
    if padding == 0 and (h < 3 or w < 3):
        return
    g = torch.Generator().manual_seed(n * 1000 + c * 100 + k * 10 + h + w)
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    wt = torch.randn(k, c, 3, 3, generator=g, dtype=torch.float64)
    b = torch.randn(k, generator=g, dtype=torch.float64) if bias else None
    expected = F.conv2d(x, wt, b, padding=padding)
    y = winograd_conv2d(x, wt, b, padding=padding, tile=tile)
    assert y.shape == expected.shape
    args = (x.numpy(), wt.numpy(), None if b is None else b.numpy(), padding, tile)
    assert_within_bound(y.numpy(), expected.numpy(), winograd_error_bound(*args, U_FP64))


@pytest.mark.parametrize("tile", TILES)
def test_gradients_match_conv2d(tile):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 3, 9, 11, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 4, 9, 11, generator=g, dtype=torch.float64)
    grads = torch.autograd.grad((winograd_conv2d(x, w, b, tile=tile) * upstream).sum(), (x, w, b))
    expected = torch.autograd.grad((F.conv2d(x, w, b, padding=1) * upstream).sum(), (x, w, b))
    for got, want in zip(grads, expected, strict=False):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    assert torch.autograd.gradcheck(lambda *a: winograd_conv2d(*a, tile=tile), (x[:1, :, :5, :6], w, b))


def test_direct_cost_is_nine_macs_per_output():
    cost = conv3x3_cost(20, 30, 16, 12, tile=None, batch=2)
    assert cost.multiplies == 2 * 30 * 16 * 12 * 20 * 9


@pytest.mark.parametrize("tile,elementwise_saving", [(2, 2.25), (4, 4.0), (6, 5.0625)])
def test_winograd_gemm_multiplies_are_the_minimal_count(tile, elementwise_saving):
    # With whole tiles, the elementwise stage needs (m+2)^2 multiplies per m*m outputs.
    h = w = 12 * tile  # padding 1 keeps the size: 12 whole tiles a side
    direct = conv3x3_cost(8, 8, h, w, None)
    wino = conv3x3_cost(8, 8, h, w, tile)
    assert direct.multiplies / wino.gemm_multiplies == pytest.approx(elementwise_saving)


def test_transform_costs_at_64_channels_match_published_counts():
    # The published counts (Lavin & Gray 2016; ncnn, NNPACK): with transforms counted at
    # C = K = 64, about 2.1x, 3.6x, 4.3x fewer operations than direct (multiplies and adds).
    direct = conv3x3_cost(64, 64, 96, 96, None)
    savings = {t: direct.flops / conv3x3_cost(64, 64, 96, 96, t).flops for t in TILES}
    assert savings[2] == pytest.approx(2.1, abs=0.15)
    assert savings[4] == pytest.approx(3.6, abs=0.3)
    assert savings[6] == pytest.approx(4.3, abs=0.4)


def test_cached_transforms_made_under_inference_mode_still_train():
    """The transform matrices are cached per (tile, dtype, device): made first under
    inference_mode, they must not break a later backward in the same process."""
    winograd._filter_matrix.cache_clear()
    winograd._tile_operators.cache_clear()
    x, w = torch.randn(1, 2, 7, 7, dtype=torch.float64), torch.randn(3, 2, 3, 3, dtype=torch.float64)
    with torch.inference_mode():
        winograd_conv2d(x, w, tile=6)
    w.requires_grad_()
    winograd_conv2d(x, w, tile=6).sum().backward()
    torch.testing.assert_close(
        w.grad, torch.nn.grad.conv2d_weight(x, w.shape, torch.ones(1, 3, 7, 7, dtype=torch.float64), padding=1)
    )
