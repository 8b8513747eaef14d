"""winograd_conv1d, Winograd F(m, 3) on a line, against F.conv1d, a per-tile evaluation of
A^T [(G g) . (B^T d)] with the 2-D transform's matrices, and a componentwise error bound."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from golden import U_FP32, U_FP64, assert_within_bound, winograd_error_bound
from hypothesis import given, settings
from hypothesis import strategies as st

from wno_edge.winograd import MATRICES, TILES, conv3_cost, winograd_conv1d


def per_tile_reference(x: np.ndarray, g: np.ndarray, padding: int, tile: int) -> np.ndarray:
    """One (N=1, C=1, K=1) signal, tile by tile, straight from the matrices: y = AT[(G g) . (BT d)]."""
    mats = MATRICES[tile]
    xo = len(x) + 2 * padding - 2
    t = -(-xo // tile)
    d = np.pad(x, (padding, t * tile + 2 - len(x) - padding))
    tiles = [mats.AT @ ((mats.G @ g) * (mats.BT @ d[i * tile : i * tile + mats.a])) for i in range(t)]
    return np.concatenate(tiles)[:xo]


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("padding", [0, 1])
def test_the_same_matrices_as_the_2d_transform(tile, padding):
    rng = np.random.default_rng(tile + 10 * padding)
    x, g = rng.standard_normal(23), rng.standard_normal(3)
    y = winograd_conv1d(torch.from_numpy(x)[None, None], torch.from_numpy(g)[None, None], padding=padding, tile=tile)
    np.testing.assert_allclose(y[0, 0].numpy(), per_tile_reference(x, g, padding, tile), rtol=0, atol=1e-13)
    direct = np.correlate(np.pad(x, padding), g, mode="valid")
    np.testing.assert_allclose(y[0, 0].numpy(), direct, rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 6),
    k=st.integers(1, 6),
    length=st.integers(1, 40),
    padding=st.sampled_from([0, 1]),
    tile=st.sampled_from(TILES),
    bias=st.booleans(),
)
def test_matches_conv1d_for_any_shape(n, c, k, length, padding, tile, bias):
    if padding == 0 and length < 3:
        return
    g = torch.Generator().manual_seed(n * 1000 + c * 100 + k * 10 + length)
    x = torch.randn(n, c, length, generator=g, dtype=torch.float64)
    wt = torch.randn(k, c, 3, generator=g, dtype=torch.float64)
    b = torch.randn(k, generator=g, dtype=torch.float64) if bias else None
    expected = F.conv1d(x, wt, b, padding=padding)
    y = winograd_conv1d(x, wt, b, padding=padding, tile=tile)
    assert y.shape == expected.shape
    args = (x.numpy(), wt.numpy(), None if b is None else b.numpy(), padding, tile)
    assert_within_bound(y.numpy(), expected.numpy(), winograd_error_bound(*args, U_FP64))


@pytest.mark.parametrize("tile", TILES)
def test_float32_with_64_input_channels_within_the_bound(tile):
    g = torch.Generator().manual_seed(tile)
    x = torch.randn(2, 64, 1001, generator=g)
    w = torch.randn(32, 64, 3, generator=g) / (64 * 3) ** 0.5
    b = torch.randn(32, generator=g)
    expected = F.conv1d(x.double(), w.double(), b.double(), padding=1)
    y = winograd_conv1d(x, w, b, padding=1, tile=tile)
    assert y.dtype == torch.float32 and y.shape == expected.shape
    bound = winograd_error_bound(x.numpy(), w.numpy(), b.numpy(), 1, tile, U_FP32)
    ratio = assert_within_bound(y.numpy(), expected.numpy(), bound)
    rel = ((y.double() - expected).abs().max() / expected.abs().max()).item()
    assert 0 < rel < {2: 1e-6, 4: 2e-6, 6: 5e-6}[tile], rel  # measured 2.3e-7, 4.3e-7, 1.6e-6
    assert ratio > 1e-3  # the bound is not vacuous: within three orders of the worst error


@pytest.mark.parametrize("tile", TILES)
def test_gradients_match_conv1d(tile):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 3, 17, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 4, 17, generator=g, dtype=torch.float64)
    grads = torch.autograd.grad((winograd_conv1d(x, w, b, tile=tile) * upstream).sum(), (x, w, b))
    expected = torch.autograd.grad((F.conv1d(x, w, b, padding=1) * upstream).sum(), (x, w, b))
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    assert torch.autograd.gradcheck(lambda *a: winograd_conv1d(*a, tile=tile), (x[:1, :, :7], w, b))


def test_refusals():
    with pytest.raises(ValueError, match="tile"):
        winograd_conv1d(torch.zeros(1, 1, 4), torch.zeros(1, 1, 3), tile=3)
    with pytest.raises(ValueError, match="padding"):
        winograd_conv1d(torch.zeros(1, 1, 4), torch.zeros(1, 1, 3), padding=2)
    with pytest.raises(ValueError, match="channels"):
        winograd_conv1d(torch.zeros(1, 2, 4), torch.zeros(1, 1, 3))
    with pytest.raises(ValueError, match="too short"):
        winograd_conv1d(torch.zeros(1, 1, 2), torch.zeros(1, 1, 3), padding=0)
    with pytest.raises(ValueError, match=r"\(N,C,X\)"):
        winograd_conv1d(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3))


def test_operation_counts_by_hand():
    # direct: K * X_out * C * 3
    assert conv3_cost(5, 7, 20, None, batch=2).multiplies == 2 * 7 * 20 * 5 * 3
    # F(2,3): every BT and AT entry is 0 or +-1, so the multiplies are the GEMM's: tiles * a * C * K
    assert conv3_cost(5, 7, 20, 2).multiplies == 10 * 4 * 5 * 7
    # F(2,3) adds: BT d 4 per (tile, in channel), AT M 4 per (tile, out channel), the channel sums
    assert conv3_cost(5, 7, 20, 2).adds == 10 * 4 * 4 * 7 + 10 * (5 * 4 + 7 * 4)
    # the GEMM part of each tile: a / m multiplies per output and channel pair, against 3 direct
    for tile in TILES:
        big = conv3_cost(256, 256, 6000, tile)
        assert big.gemm_multiplies == -(-6000 // tile) * (tile + 2) * 256 * 256
        assert conv3_cost(256, 256, 6000, None).multiplies / big.multiplies > 0.95 * 3 * tile / (tile + 2)
