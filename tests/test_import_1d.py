"""1-D imports (issue 23, item 3): PDEBench's FNO1d state dict through WNO2d.from_fno, and 1-D
neuraloperator FNO/TFNO files through import-neuralop, each checked against the original
model's own forward within 1e-5 of max|y| (3-D FNOs: tests/test_import_3d.py)."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wno_edge.contract import TILES
from wno_edge.errors import WNOEdgeError
from wno_edge.model import WNO2d

# ---- PDEBench's FNO1d -----------------------------------------------------------------------------
# pdebench/models/fno/fno.py (PDEBench 9754b4c, MIT, after Zongyi Li's FNO), as written there:
# the reference the import is checked against.


class PDEBenchSpectralConv1d(nn.Module):
    def __init__(self, in_channels, out_channels, modes1):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.modes1 = modes1
        self.scale = 1 / (in_channels * out_channels)
        self.weights1 = nn.Parameter(
            self.scale * torch.rand(in_channels, out_channels, self.modes1, dtype=torch.cfloat)
        )

    def compl_mul1d(self, input, weights):
        return torch.einsum("bix,iox->box", input, weights)

    def forward(self, x):
        batchsize = x.shape[0]
        x_ft = torch.fft.rfft(x)
        out_ft = torch.zeros(batchsize, self.out_channels, x.size(-1) // 2 + 1, device=x.device, dtype=torch.cfloat)
        out_ft[:, :, : self.modes1] = self.compl_mul1d(x_ft[:, :, : self.modes1], self.weights1)
        return torch.fft.irfft(out_ft, n=x.size(-1))


class PDEBenchFNO1d(nn.Module):
    def __init__(self, num_channels, modes=16, width=64, initial_step=10):
        super().__init__()
        self.modes1 = modes
        self.width = width
        self.padding = 2  # pad the domain if input is non-periodic
        self.fc0 = nn.Linear(initial_step * num_channels + 1, self.width)
        self.conv0 = PDEBenchSpectralConv1d(self.width, self.width, self.modes1)
        self.conv1 = PDEBenchSpectralConv1d(self.width, self.width, self.modes1)
        self.conv2 = PDEBenchSpectralConv1d(self.width, self.width, self.modes1)
        self.conv3 = PDEBenchSpectralConv1d(self.width, self.width, self.modes1)
        self.w0 = nn.Conv1d(self.width, self.width, 1)
        self.w1 = nn.Conv1d(self.width, self.width, 1)
        self.w2 = nn.Conv1d(self.width, self.width, 1)
        self.w3 = nn.Conv1d(self.width, self.width, 1)
        self.fc1 = nn.Linear(self.width, 128)
        self.fc2 = nn.Linear(128, num_channels)

    def forward(self, x, grid):
        # x dim = [b, x1, t*v]
        x = torch.cat((x, grid), dim=-1)
        x = self.fc0(x)
        x = x.permute(0, 2, 1)
        x = F.pad(x, [0, self.padding])
        x = F.gelu(self.conv0(x) + self.w0(x))
        x = F.gelu(self.conv1(x) + self.w1(x))
        x = F.gelu(self.conv2(x) + self.w2(x))
        x = self.conv3(x) + self.w3(x)
        x = x[..., : -self.padding]
        x = x.permute(0, 2, 1)
        x = self.fc1(x)
        x = F.gelu(x)
        x = self.fc2(x)
        return x.unsqueeze(-2)


def pdebench_centres(x0: float, x1: float, n: int) -> torch.Tensor:
    """The x-coordinate PDEBench's 1-D generators write (xe = linspace(xL, xR, nx + 1), xc = cell centres)."""
    xe = np.linspace(x0, x1, n + 1)
    return torch.from_numpy((xe[:-1] + 0.5 * (xe[1] - xe[0])).astype(np.float32))


def run_pdebench(fno: PDEBenchFNO1d, x: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """PDEBench's call, (B, X, initial_step * C) and its grid (B, X, 1), as our (B, C, X)."""
    b, n = x.shape[0], x.shape[1]
    with torch.no_grad():
        return fno(x, coords.view(1, n, 1).expand(b, n, 1))[:, :, 0].permute(0, 2, 1)


def rel(y, ref) -> float:
    y, ref = np.asarray(y, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(y - ref).max() / np.abs(ref).max())


def make_pdebench(seed: int = 0, num_channels=1, modes=16, width=20, initial_step=10) -> PDEBenchFNO1d:
    torch.manual_seed(seed)
    return PDEBenchFNO1d(num_channels=num_channels, modes=modes, width=width, initial_step=initial_step).eval()


@pytest.mark.parametrize("real_space_kernel", [False, True])
@pytest.mark.parametrize("n", [1024, 64, 37])
def test_from_fno_computes_pdebench_fno1d(n, real_space_kernel):
    fno = make_pdebench(n)
    model = WNO2d.from_fno(fno.state_dict(), real_space_kernel=real_space_kernel).eval()
    c = model.config
    assert c.rank == 1 and c.modes == (16,) and c.width == 20 and c.n_layers == 4 and c.in_channels == 10
    assert c.domain_padding == 2 and c.grid_points == "centers" and c.grid_domain == ((0.0, 1.0),)
    assert c.real_space_kernel == real_space_kernel
    x = torch.randn(3, n, 10, generator=torch.Generator().manual_seed(1))  # (B, X, initial_step * C)
    ref = run_pdebench(fno, x, pdebench_centres(0, 1, n))  # PDEBench's Advection/Burgers files: [0, 1]
    tiles = [None, *TILES] if real_space_kernel else [None]
    with torch.no_grad():
        for tile in tiles:
            y = model.set_conv(tile)(x.permute(0, 2, 1))
            assert y.shape == (3, 1, n) and rel(y, ref) <= 1e-5, (tile, rel(y, ref))


def test_from_fno_several_fields_and_the_kernel_trains():
    """1-D CFD: 3 fields x initial_step 2 frames in, 3 fields out; k starts at 0 and gets a gradient."""
    fno = make_pdebench(5, num_channels=3, modes=8, width=12, initial_step=2)
    model = WNO2d.from_fno(fno.state_dict())
    assert model.config.in_channels == 6 and model.config.out_channels == 3
    kernel = model.layers[0].kernel
    assert tuple(kernel.shape) == (12, 12, 3) and float(kernel.detach().abs().max()) == 0
    x = torch.randn(2, 40, 6)
    assert rel(model.eval()(x.permute(0, 2, 1)).detach(), run_pdebench(fno, x, pdebench_centres(0, 1, 40))) <= 1e-5
    model.train().set_conv(4)(x.permute(0, 2, 1)).square().mean().backward()
    assert all(float(layer.kernel.grad.abs().max()) > 0 for layer in model.layers)


@pytest.mark.parametrize("domain", [(-1.0, 3.0), ((-1.0, 3.0),)])  # PDEBench1dInfo.domain's pair, or per axis
def test_from_fno_on_another_interval(domain):
    fno = make_pdebench(2, modes=6, width=10, initial_step=1)
    model = WNO2d.from_fno(fno.state_dict(), domain=domain).eval()
    assert model.config.grid_domain == ((-1.0, 3.0),)
    x = torch.randn(2, 48, 1)
    ref = run_pdebench(fno, x, pdebench_centres(-1, 3, 48))
    with torch.no_grad():
        assert rel(model(x.permute(0, 2, 1)), ref) <= 1e-5
        unit = WNO2d.from_fno(fno.state_dict()).eval()(x.permute(0, 2, 1))
    assert rel(unit, ref) > 1e-3  # the grid matters


def test_from_fno_with_a_linspace_grid():
    """A model trained on linspace(0, 1, X) (grid_points="endpoints") instead of a file's centres."""
    fno = make_pdebench(3, modes=6, width=10, initial_step=1)
    model = WNO2d.from_fno(fno.state_dict(), grid_points="endpoints").eval()
    x = torch.randn(2, 33, 1)
    with torch.no_grad():
        assert rel(model(x.permute(0, 2, 1)), run_pdebench(fno, x, torch.linspace(0, 1, 33))) <= 1e-5


def test_from_fno_with_the_domain_of_a_pdebench_file(tmp_path):
    """The file's x-coordinate, read by wno_edge.data (describe_1d(...).domain), as PDEBench feeds it."""
    from wno_edge.data.pdebench1d import PDEBench1dDataset, describe_1d

    n, path = 64, tmp_path / "1D_ReacDiff_tiny.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=rng.standard_normal((2, 4, n)).astype(np.float32))
        f.create_dataset("x-coordinate", data=pdebench_centres(-2.0, 2.0, n).numpy())
        f.create_dataset("t-coordinate", data=np.linspace(0, 1, 5, dtype=np.float32))
    info = describe_1d(path)
    fno = make_pdebench(4, modes=8, width=10, initial_step=2)
    model = WNO2d.from_fno(fno.state_dict(), domain=info.domain).eval()
    inputs, _ = PDEBench1dDataset(path, "train", test_fraction=0.5, initial_step=2)[0]  # (2 frames, X)
    x = inputs[None]
    ref = run_pdebench(fno, x.permute(0, 2, 1), torch.from_numpy(info.x))
    with torch.no_grad():
        assert rel(model(x), ref) <= 1e-5


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda sd: sd.pop("w3.weight"), "FNO1d state dict is missing 'w3.weight'"),
        (lambda sd: sd.update({"conv0.weights1": torch.zeros(4, 4, 2, 2, 2, dtype=torch.cfloat)}), "3 mode axes"),
        (lambda sd: sd.update({"conv1.weights1": torch.zeros(10, 10, 5, dtype=torch.cfloat)}), "does not fit"),
        (lambda sd: sd.clear(), "not a PDEBench FNO2d or FNO1d state dict"),
    ],
    ids=["missing", "3-d", "shape", "empty"],
)
def test_from_fno_refuses_in_one_line(edit, words):
    sd = dict(make_pdebench(0, modes=6, width=10, initial_step=1).state_dict())
    edit(sd)
    with pytest.raises(WNOEdgeError, match=words) as e:
        WNO2d.from_fno(sd)
    assert "\n" not in str(e.value)


# ---- neuraloperator 1-D FNO / TFNO ----------------------------------------------------------------

CONFIGS_1D = {
    "dense-default": dict(n_modes=(16,)),
    "tucker-odd-softgating-pad": dict(
        n_modes=(15,), factorization="tucker", rank=0.5, fno_skip="soft-gating", domain_padding=0.125
    ),
    "cp-identity-nomlp-nogrid": dict(
        n_modes=(12,),
        factorization="cp",
        rank=0.4,
        fno_skip="identity",
        use_channel_mlp=False,
        positional_embedding=None,
    ),
    "linear-mlpskip-1lift-pad1": dict(
        n_modes=(9,), channel_mlp_skip="linear", lifting_channel_ratio=0, domain_padding=[0.2]
    ),
    "identity-mlpskip-noskip": dict(n_modes=(8,), channel_mlp_skip="identity", fno_skip=None),
    "tfno-nomlpskip-pad": dict(n_modes=(10,), channel_mlp_skip=None, domain_padding=0.25, tfno=True),
}


@pytest.fixture(scope="module")
def neuralop_models():
    return pytest.importorskip("neuralop.models")


def make_fno1d(models, name: str, seed: int = 0):
    kw = dict(CONFIGS_1D[name])
    cls = models.TFNO if kw.pop("tfno", False) else models.FNO
    torch.manual_seed(seed)
    m = cls(in_channels=2, out_channels=3, hidden_channels=8, n_layers=3, **kw).eval()
    with torch.no_grad():  # soft-gating weights start at 1: make them count
        for n, p in m.named_parameters():
            if "skips" in n and p.dim() == 3 and p.shape[0] == 1:
                p.copy_(torch.randn_like(p))
    return m


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(CONFIGS_1D))
def test_neuralop_1d_fno_imported_matches_neuraloperator(name, tmp_path, neuralop_models):
    from wno_edge.importers.neuralop import from_neuralop

    fno = make_fno1d(neuralop_models, name)
    path = tmp_path / "fno1d.pt"
    torch.save(fno.state_dict(), path)  # as users save it: the state dict with its _metadata
    k = CONFIGS_1D[name]["n_modes"][0]
    for real_space_kernel in (False, True):
        model = from_neuralop(path, real_space_kernel=real_space_kernel)
        assert model.config.rank == 1 and model.config.modes == (k // 2 + 1,), model.config.modes
        assert model.config.block == "neuralop" and model.config.real_space_kernel == real_space_kernel
        if real_space_kernel:
            assert all(tuple(layer.kernel.shape) == (8, 8, 3) and float(layer.kernel.abs().max()) == 0
                       for layer in model.layers)  # fmt: skip
        for n in (64, 37, 16):  # 16 points: k = 16 keeps the Nyquist frequency
            x = torch.randn(2, 2, n, generator=torch.Generator().manual_seed(n))
            with torch.no_grad():
                ref = fno(x)
                for tile in [None, 4] if real_space_kernel else [None]:
                    assert rel(model.set_conv(tile)(x), ref) <= 1e-5, (name, n, tile)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_neuralop_1d_cli_save_checkpoint_pair(tmp_path, neuralop_models, capsys):
    from wno_edge.checkpoint import load_model
    from wno_edge.cli import main

    fno = neuralop_models.FNO(n_modes=(16,), in_channels=1, out_channels=1, hidden_channels=8, n_layers=2).eval()
    fno.save_checkpoint(tmp_path, "burgers")
    out = tmp_path / "burgers.wno.pt"
    assert main(["import-neuralop", str(tmp_path / "burgers_metadata.pkl"), "-o", str(out), "-r", "128"]) == 0
    printed = capsys.readouterr().out
    assert "matches neuraloperator" in printed and "128 points" in printed, printed
    model = load_model(out)
    assert model.config.rank == 1 and model.config.resolution == (128,) and model.config.modes == (9,)
    x = torch.randn(1, 1, 128)
    with torch.no_grad():
        assert rel(model(x), fno(x)) <= 1e-5
    # a 2-D resolution for a 1-D FNO: one line, nothing written
    assert main(["import-neuralop", str(tmp_path / "burgers_state_dict.pt"), "-o", str(tmp_path / "x.pt"),
                 "-r", "64x64"]) == 1  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert "resolution 64x64 does not fit a 1-D FNO" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_neuralop_1d_import_report(tmp_path, neuralop_models):
    from wno_edge.importers.neuralop import import_neuralop

    fno = make_fno1d(neuralop_models, "tucker-odd-softgating-pad")
    torch.save(fno.state_dict(), tmp_path / "t.pt")
    report = import_neuralop(tmp_path / "t.pt", tmp_path / "t.wno.pt")  # compared at 256 points by default
    assert report.reference_error is not None and report.reference_error <= 1e-5
    assert report.reference_note == "2 random inputs at 256 points"
    assert report.config.resolution is None and (tmp_path / "t.wno.pt").is_file()


class _Payload:
    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_neuralop_1d_file_is_scanned_before_it_is_read(tmp_path, neuralop_models):
    """The same allow-list scan as 2-D files: a 1-D file naming os.system is refused, nothing runs."""
    from wno_edge.importers.neuralop import NeuralopImportError, read_neuralop

    target = tmp_path / "pwned"
    sd = make_fno1d(neuralop_models, "dense-default").state_dict()
    sd["_metadata"]["evil"] = _Payload(str(target))
    torch.save(sd, tmp_path / "evil.pt")
    with pytest.raises(NeuralopImportError, match="refused") as e:
        read_neuralop(tmp_path / "evil.pt")
    assert "\n" not in str(e.value) and not target.exists()


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "option, value, words",
    [
        ("domain_padding", [0.1, 0.1], "domain_padding=.*one per dimension"),  # two fractions for one axis
        ("n_modes", [16.5], "one or two positive integers"),
        ("n_modes", [], "one or two mode counts"),
        ("max_n_modes", [32], "max_n_modes="),
    ],
)
def test_neuralop_1d_malformed_options_are_one_line(tmp_path, neuralop_models, option, value, words):
    from wno_edge.importers.neuralop import NeuralopImportError, import_neuralop

    sd = make_fno1d(neuralop_models, "dense-default").state_dict()
    sd["_metadata"][option] = value
    torch.save(sd, tmp_path / "fno.pt")
    with pytest.raises(NeuralopImportError, match=words) as e:
        import_neuralop(tmp_path / "fno.pt", None)
    assert "\n" not in str(e.value) and len(str(e.value)) < 400


# ---- ONNX Runtime and the native engine (the 1-D export) ---------------------------------------------


@pytest.fixture(scope="module")
def engine_lib():
    """The native engine of this checkout, built as tests/test_engine.py builds it."""
    from native_build import BUILD, NATIVE_OPTIONS, RUNTIME, cmake_build

    cmake_build(BUILD, RUNTIME, NATIVE_OPTIONS, ("wno_engine",))
    return BUILD / "engine" / "libwno_engine.so"


def check_exported(model: WNO2d, x: torch.Tensor, ref, tmp_path, engine_lib, what) -> None:
    """model exported at x's length: within 1e-4 of max|ref| in ONNX Runtime and the native engine."""
    from wno_edge import runtime
    from wno_edge.onnx.export import build_model_proto, check_model_proto
    from wno_edge.onnx.verify import run_onnxruntime

    try:
        proto = check_model_proto(build_model_proto(model, resolution=(x.shape[-1],)))
    except WNOEdgeError as e:
        if "1-D export is not implemented yet" in str(e):
            pytest.skip("the 1-D export has not landed yet")
        raise
    assert not any(n.op_type in ("DFT", "STFT") for n in proto.graph.node)
    assert rel(run_onnxruntime(proto, {"input": x.numpy()}), ref) <= 1e-4, (what, "onnxruntime")
    path = tmp_path / f"m{x.shape[-1]}.onnx"
    path.write_bytes(proto.SerializeToString())
    with runtime.load(path, backend="native", library=engine_lib, batch=len(x)) as session:
        assert "all covered by fusion patterns" in session.plan.splitlines()[0], (what, session.plan)
        assert rel(session.run(x.numpy()), ref) <= 1e-4, (what, "native engine")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(CONFIGS_1D))
def test_neuralop_1d_import_exported_and_run(name, tmp_path, neuralop_models, engine_lib):
    from wno_edge.importers.neuralop import from_neuralop

    fno = make_fno1d(neuralop_models, name)
    for real_space_kernel in (False, True):
        model = from_neuralop(fno.state_dict(), real_space_kernel=real_space_kernel)
        for n in (64, 37):
            x = torch.randn(2, 2, n, generator=torch.Generator().manual_seed(n))
            with torch.no_grad():
                ref = fno(x).numpy()
            check_exported(model, x, ref, tmp_path, engine_lib, (name, real_space_kernel, n))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_long_line_runs_the_lift_mlp_in_column_chunks(tmp_path, neuralop_models, engine_lib):
    """A line longer than the engine's 256-column chunks, with domain padding on both sides: the
    fused lifting MLP cuts its one row into chunks (ragged last one) across threads."""
    from wno_edge.importers.neuralop import from_neuralop

    fno = make_fno1d(neuralop_models, "tucker-odd-softgating-pad")
    model = from_neuralop(fno.state_dict())
    x = torch.randn(1, 2, 600, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        ref = fno(x).numpy()
    check_exported(model, x, ref, tmp_path, engine_lib, "line 600")


@pytest.mark.parametrize("real_space_kernel", [False, True])
def test_pdebench_fno1d_import_exported_and_run(real_space_kernel, tmp_path, engine_lib):
    fno = make_pdebench(7, modes=12, width=16, initial_step=4)
    model = WNO2d.from_fno(fno.state_dict(), real_space_kernel=real_space_kernel)
    for n in (128, 45):
        x = torch.randn(2, n, 4, generator=torch.Generator().manual_seed(n))
        ref = run_pdebench(fno, x, pdebench_centres(0, 1, n)).numpy()
        check_exported(model, x.permute(0, 2, 1).contiguous(), ref, tmp_path, engine_lib, (real_space_kernel, n))
