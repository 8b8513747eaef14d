"""PDEBench readers: layouts, items, splits, downsampling, statistics, lazy access, errors."""

import h5py
import numpy as np
import pytest
import torch

from wno_edge.data import PDEBenchDataset, describe, generate, normalization_stats, split_indices
from wno_edge.errors import WNOEdgeError
from wno_edge.model import WNO2d, WNOConfig

N = 10


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("pdebench")
    out = {}
    for task in ("darcy", "diffusion-reaction", "shallow-water"):
        out[task] = generate(task, root / f"{task}.h5", N, 16, seed=7, progress=False).path
    return out


def load(path):
    """Everything in memory, the reference the lazy readers are checked against."""
    with h5py.File(path) as f:
        if "nu" in f:
            return f["nu"][()], f["tensor"][()]
        return np.stack([f[k]["data"][()] for k in sorted(f, key=int)])


def test_layout_detection_and_metadata(files):
    darcy = describe(files["darcy"])
    assert (darcy.layout, darcy.task, darcy.n_samples, darcy.shape, darcy.n_times) == (
        "darcy",
        "darcy",
        N,
        (16, 16),
        None,
    )
    assert darcy.attrs["beta"] == 1.0
    np.testing.assert_allclose(darcy.x, (np.arange(16) + 0.5) / 16, rtol=1e-6)
    dr = describe(files["diffusion-reaction"])
    assert (dr.layout, dr.task, dr.n_channels, dr.n_times) == ("time-series", "diffusion-reaction", 2, 101)
    assert dr.sample_keys[:2] == ("0000", "0001") and dr.t[-1] == pytest.approx(5.0)
    sw = describe(files["shallow-water"])
    assert (sw.task, sw.n_channels, sw.x[0]) == ("shallow-water", 1, pytest.approx(-2.5 + 5 / 32))


def test_task_is_guessed_from_channels_in_downloaded_files(tmp_path):
    path = tmp_path / "2D_rdb_NA_NA.h5"  # PDEBench's own files carry no wno-edge attributes
    with h5py.File(path, "w") as f:
        for i in range(2):
            f[f"{i:04d}/data"] = np.ones((5, 4, 4, 1), np.float32)
            f[f"{i:04d}/grid/x"] = f[f"{i:04d}/grid/y"] = np.linspace(-2.5, 2.5, 4, dtype=np.float32)
            f[f"{i:04d}/grid/t"] = np.linspace(0, 1, 5, dtype=np.float32)
    assert describe(path).task == "shallow-water"


def test_darcy_items_split_and_downsampling(files):
    nu, tensor = load(files["darcy"])
    train = PDEBenchDataset(files["darcy"], "train")
    test = PDEBenchDataset(files["darcy"], "test")
    assert (len(train), len(test)) == (9, 1)  # PDEBench's FNODatasetSingle: the first 10% are the test set
    a, u = test[0]
    assert a.shape == u.shape == (1, 16, 16) and a.dtype == torch.float32
    np.testing.assert_array_equal(a[0].numpy(), nu[0])
    np.testing.assert_array_equal(u.numpy(), tensor[0])
    np.testing.assert_array_equal(train[0][0][0].numpy(), nu[1])
    last = PDEBenchDataset(files["darcy"], "test", test_split="last")  # the split of wno-edge <= 0.1
    np.testing.assert_array_equal(last[0][0][0].numpy(), nu[9])
    for kwargs in ({"reduce": 2}, {"resolution": 8}):
        small = PDEBenchDataset(files["darcy"], "train", **kwargs)
        a, u = small[3]
        assert small.resolution == (8, 8)
        np.testing.assert_array_equal(a[0].numpy(), nu[4, ::2, ::2])
        np.testing.assert_array_equal(u.numpy(), tensor[4, :, ::2, ::2])
    assert PDEBenchDataset(files["darcy"], "train", max_samples=5).indices.tolist() == [0, 1, 2, 3, 4]  # int(0.5) = 0
    assert PDEBenchDataset(files["darcy"], "test", max_samples=5, test_fraction=0.2).indices.tolist() == [0]
    assert (train.in_channels, train.out_channels) == (1, 1)


def test_split_is_deterministic_disjoint_and_complete():
    train, test = split_indices(1000, "train", 0.1), split_indices(1000, "test", 0.1)
    assert test.tolist() == list(range(100)) and train.tolist() == list(range(100, 1000))  # PDEBench
    train, test = split_indices(1000, "train", 0.1, "last"), split_indices(1000, "test", 0.1, "last")
    assert train.tolist() == list(range(900)) and test.tolist() == list(range(900, 1000))
    with pytest.raises(WNOEdgeError, match="test_split must be one of"):
        split_indices(10, "train", 0.1, "middle")
    with pytest.raises(WNOEdgeError, match="split is empty"):
        split_indices(1, "test", 0.1)
    with pytest.raises(WNOEdgeError, match="split is empty"):
        split_indices(1, "train", 0.1, "last")


@pytest.mark.parametrize("task,channels", [("diffusion-reaction", 2), ("shallow-water", 1)])
def test_time_series_windows_and_trajectories(files, task, channels):
    data = load(files[task])  # (N, T, X, Y, C)
    ds = PDEBenchDataset(files[task], "train", reduce=2)
    assert len(ds) == 9 * (101 - 10)
    assert (ds.in_channels, ds.out_channels, ds.resolution) == (10 * channels, channels, (8, 8))
    sample, start = 4, 37
    x, y = ds[sample * 91 + start]
    assert x.shape == (10 * channels, 8, 8) and y.shape == (channels, 8, 8)
    expected = data[sample + 1, start : start + 10, ::2, ::2].transpose(0, 3, 1, 2)  # (frames, C, H, W); 0 is test
    np.testing.assert_array_equal(x.numpy(), expected.reshape(10 * channels, 8, 8))  # channel = frame * C + c
    np.testing.assert_array_equal(y.numpy(), data[sample + 1, start + 10, ::2, ::2].transpose(2, 0, 1))
    traj = PDEBenchDataset(files[task], "test").trajectory(0)
    np.testing.assert_array_equal(traj.numpy(), data[0].transpose(0, 3, 1, 2))
    coarse = PDEBenchDataset(files[task], "all", time_reduce=5, initial_step=4)
    assert len(coarse.t) == 21 and len(coarse) == N * 17
    np.testing.assert_array_equal(coarse.trajectory(2).numpy(), data[2, ::5].transpose(0, 3, 1, 2))


@pytest.mark.parametrize("task", ["darcy", "diffusion-reaction"])
def test_normalization_stats_equal_those_of_all_training_data_at_once(files, task):
    ds = PDEBenchDataset(files[task], "train")
    stats = normalization_stats(ds)
    if task == "darcy":
        nu, tensor = load(files[task])
        np.testing.assert_allclose(stats.input_mean, [nu[1:].mean()], rtol=1e-6)
        np.testing.assert_allclose(stats.input_std, [nu[1:].std()], rtol=1e-6)
        np.testing.assert_allclose(stats.output_std, [tensor[1:].std()], rtol=1e-6)
    else:
        data = load(files[task])[1:].astype(np.float64)
        mean, std = data.mean(axis=(0, 1, 2, 3)), data.std(axis=(0, 1, 2, 3))
        np.testing.assert_allclose(stats.output_mean, mean, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(stats.output_std, std, rtol=1e-9)
        np.testing.assert_allclose(stats.input_mean, np.tile(mean, 10), rtol=1e-9, atol=1e-12)
    model = WNO2d(
        WNOConfig(in_channels=ds.in_channels, out_channels=ds.out_channels, width=4, modes=(2, 2), n_layers=1)
    )
    model.set_normalization(*stats.as_tuple())
    np.testing.assert_allclose(model.output_std.numpy(), stats.output_std, rtol=1e-6)


def test_access_is_lazy_one_sample_per_item(files, monkeypatch):
    reads = []
    original = h5py.Dataset.__getitem__

    def recording(self, selection):
        reads.append((self.name, selection))
        return original(self, selection)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", recording)
    ds = PDEBenchDataset(files["diffusion-reaction"], "train")
    assert not [name for name, _ in reads if name.endswith("/data")]  # opening reads metadata only
    reads.clear()
    ds[3 * 91 + 5]
    assert [name for name, _ in reads] == ["/0004/data"]  # train item 3: file sample 4 (0 is the test set)
    window = reads[0][1]
    assert (window.start, window.stop) == (5, 16)  # 11 frames, not the whole trajectory
    darcy = PDEBenchDataset(files["darcy"], "train")
    reads.clear()
    darcy[6]
    assert sorted(reads) == [("/nu", 7), ("/tensor", 7)]


def test_dataloader_workers_open_their_own_handles(files):
    ds = PDEBenchDataset(files["shallow-water"], "test")
    expected = torch.stack([ds[i][1] for i in range(len(ds))])  # the parent's handle is now open
    loader = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=2)
    got = torch.cat([y for _, y in loader])
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


# ---------------------------------------------------------------- malformed files


def darcy_file(path, nu_shape=(3, 4, 4), tensor_shape=(3, 1, 4, 4), skip=()):
    with h5py.File(path, "w") as f:
        for key, value in (
            ("nu", np.ones(nu_shape)),
            ("tensor", np.ones(tensor_shape)),
            ("x-coordinate", np.ones(4)),
            ("y-coordinate", np.ones(4)),
        ):
            if key not in skip:
                f[key] = value
    return path


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: darcy_file(p, skip=("tensor",)), "missing dataset 'tensor' (expected (N, 1, X, Y)"),
        (lambda p: darcy_file(p, skip=("x-coordinate",)), "missing dataset 'x-coordinate'"),
        (
            lambda p: darcy_file(p, tensor_shape=(3, 4, 4)),
            "'tensor' has shape (3, 4, 4), expected (N, 1, X, Y) = (3, 1, 4, 4)",
        ),
        (lambda p: darcy_file(p, nu_shape=(3, 16)), "'nu' has shape (3, 16), expected (N, X, Y)"),
        (
            lambda p: h5py.File(p, "w").create_dataset("velocity", data=[1.0]).file.close(),
            "unknown layout (top-level keys: 'velocity'); expected darcy: datasets 'nu'",
        ),
        (lambda p: h5py.File(p, "w").create_group("0000").file.close(), "missing dataset 'data' in group '0000'"),
        (lambda p: p.write_text("not hdf5"), "not a readable HDF5 file"),
    ],
)
def test_malformed_files_are_user_errors_naming_what_was_expected(tmp_path, make, message):
    path = tmp_path / "bad.h5"
    make(path)
    with pytest.raises(WNOEdgeError) as err:
        PDEBenchDataset(path, split="all")
    assert message in str(err.value) and str(path) in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(WNOEdgeError, match="no such file"):
        describe(tmp_path / "nope.h5")


def test_bad_values_and_shapes_are_caught_on_the_samples_read(files, tmp_path):
    import shutil

    path = shutil.copy(files["diffusion-reaction"], tmp_path / "dr.h5")
    with h5py.File(path, "r+") as f:
        f["0002/data"][40, 3, 3, 1] = np.nan
        del f["0005/data"]
        f["0005/data"] = np.zeros((101, 16, 16, 1), np.float32)
    ds = PDEBenchDataset(path, "all")  # opening does not read samples
    ds[0], ds[2 * 91]  # frames 0..10 of sample 2 are clean
    with pytest.raises(WNOEdgeError, match=r"sample '0002' contains NaN or Inf"):
        ds[2 * 91 + 35]
    with pytest.raises(WNOEdgeError, match=r"'0005/data' has shape \(101, 16, 16, 1\), expected \(101, 16, 16, 2\)"):
        ds.trajectory(5)
    darcy = shutil.copy(files["darcy"], tmp_path / "darcy.h5")
    with h5py.File(darcy, "r+") as f:
        f["tensor"][1, 0, 2, 2] = np.inf
    ds = PDEBenchDataset(darcy, "all")
    ds[0]
    with pytest.raises(WNOEdgeError, match=r"Darcy sample 1 \('tensor'\) contains NaN or Inf"):
        ds[1]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"resolution": 6}, "cannot subsample the 16x16 grid to 6x6"),
        ({"reduce": 0}, "reduce factor must be >= 1"),
        ({"initial_step": 101}, "initial_step must be in [1, 100]"),
        ({"split": "valid"}, "split must be one of"),
    ],
)
def test_bad_options(files, kwargs, message):
    with pytest.raises(WNOEdgeError) as err:
        PDEBenchDataset(files["shallow-water"], **kwargs)
    assert message in str(err.value)


def test_domain_from_the_files_cell_centres_feeds_an_imported_fno_the_files_coordinates(tmp_path):
    generate("shallow-water", tmp_path / "swe.h5", 1, 8, progress=False)
    info = describe(tmp_path / "swe.h5")
    assert np.allclose(info.domain, ((-2.5, 2.5), (-2.5, 2.5)))
    assert np.allclose(describe(tmp_path / "swe.h5").domain, info.domain)
    cfg = WNOConfig(1, 1, width=4, modes=(2, 2), n_layers=1, grid_domain=info.domain, grid_points="centers")
    grid = WNO2d(cfg).grid(8, 8, 1, torch.float64, "cpu")[0]
    np.testing.assert_allclose(grid[0, :, 0].numpy(), info.x, rtol=0, atol=1e-6)  # x along H
    np.testing.assert_allclose(grid[1, 0, :].numpy(), info.y, rtol=0, atol=1e-6)
