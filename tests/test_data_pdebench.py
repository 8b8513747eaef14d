"""PDEBench readers: layouts, items, splits, downsampling, statistics, lazy access, errors."""

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from wno_edge.data import PDEBenchDataset, describe, generate, normalization_stats, split_indices
from wno_edge.data.pdebench import check_samples
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


@pytest.fixture
def dataset_reads(monkeypatch):
    """Every h5py dataset read, as (dataset name, selection, values read)."""
    reads = []
    original = h5py.Dataset.__getitem__

    def recording(self, selection, **kwargs):
        value = original(self, selection, **kwargs)
        reads.append((self.name, selection, np.size(value)))
        return value

    monkeypatch.setattr(h5py.Dataset, "__getitem__", recording)
    return reads


def test_access_is_lazy_one_sample_per_item(files, dataset_reads):
    reads = dataset_reads
    ds = PDEBenchDataset(files["diffusion-reaction"], "train")
    assert not [name for name, *_ in reads if name.endswith("/data")]  # opening reads metadata only
    reads.clear()
    ds[3 * 91 + 5]
    assert [name for name, *_ in reads] == ["/0004/data"]  # train item 3: file sample 4 (0 is the test set)
    window = reads[0][1]
    assert (window.start, window.stop) == (5, 16)  # 11 frames, not the whole trajectory
    darcy = PDEBenchDataset(files["darcy"], "train")
    reads.clear()
    darcy[6]
    assert sorted((name, selection) for name, selection, _ in reads) == [("/nu", 7), ("/tensor", 7)]


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


# ---------------------------------------------------------------- files read for what they hold
# Each case is a few lines of h5py; the references are the files' own declared contents.


def small_darcy(path, **replace):
    """A valid 3-sample 4x4 Darcy file; `replace` maps a name to a function (file, name) -> None
    that writes something else there."""
    with h5py.File(path, "w") as f:
        values = {
            "nu": np.ones((3, 4, 4)),
            "tensor": np.ones((3, 1, 4, 4)),
            "x-coordinate": np.arange(4.0),
            "y-coordinate": np.arange(4.0),
        }
        for key, value in values.items():
            if key in replace:
                replace[key](f, key)
            else:
                f[key] = value
    return path


def small_series(path, samples=2, **replace):
    """A valid time-series file (T, X, Y, C) = (3, 4, 4, 1); keys of `replace` as small_darcy's,
    e.g. '0000/data' or '0001/grid/t'."""
    with h5py.File(path, "w") as f:
        for i in range(samples):
            for key, value in (
                ("data", np.ones((3, 4, 4, 1))),
                ("grid/x", np.arange(4.0)),
                ("grid/y", np.arange(4.0)),
                ("grid/t", np.arange(3.0)),
            ):
                name = f"{i:04d}/{key}"
                if name in replace:
                    f.require_group(name.rsplit("/", 1)[0])
                    replace[name](f, name)
                else:
                    f[name] = value
    return path


def inspect_check(path, capsys):
    """`wno-edge data inspect --check path`: (exit status, stderr lines)."""
    from wno_edge.cli import main

    code = main(["data", "inspect", "--check", str(path)])
    return code, capsys.readouterr().err.strip().splitlines()


def refused(path, capsys, *messages):
    """The reader and the CLI refuse `path` in one line holding every message."""
    with pytest.raises(WNOEdgeError) as err:
        check_samples(describe(path))
    text = str(err.value)
    assert "\n" not in text and str(path) in text and all(m in text for m in messages), text
    code, lines = inspect_check(path, capsys)
    assert code == 1 and len(lines) == 1 and lines[0] == f"error: {text}"


def external_storage(secret):
    def write(f, name):
        shape = {"nu": (3, 4, 4), "x-coordinate": (4,)}.get(name, (3, 4, 4, 1))
        f.create_dataset(name, shape, "f8", external=[(str(secret), 0, 8 * int(np.prod(shape)))])

    return write


def secret_file(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.full(1000, 7.0).tobytes())  # another file's bytes: never samples
    return secret


@pytest.mark.parametrize("name", ["nu", "x-coordinate"])
def test_darcy_datasets_in_external_storage_are_refused(tmp_path, capsys, name):
    path = small_darcy(tmp_path / "ext.h5", **{name: external_storage(secret_file(tmp_path))})
    with h5py.File(path) as f:  # the reference: h5py reads the other file's bytes as values
        assert (f[name][()] == 7.0).all()
    refused(path, capsys, f"'{name}' keeps its values in an external file")


@pytest.mark.parametrize("name", ["0000/data", "0001/data"])
def test_series_datasets_in_external_storage_are_refused(tmp_path, capsys, name):
    path = small_series(tmp_path / "ext.h5", **{name: external_storage(secret_file(tmp_path))})
    refused(path, capsys, f"'{name}' keeps its values in an external file")
    if name == "0001/data":  # training reads sample 1 only when it gets there: refused then too
        ds = PDEBenchDataset(path, "all", initial_step=1)
        ds[0]
        with pytest.raises(WNOEdgeError, match="'0001/data' keeps its values in an external file"):
            ds[2]


def test_virtual_datasets_are_refused(tmp_path, capsys):
    source = small_darcy(tmp_path / "source.h5")

    def virtual(f, name):
        layout = h5py.VirtualLayout((3, 4, 4), "f8")
        layout[:] = h5py.VirtualSource(source, "nu", shape=(3, 4, 4))
        f.create_virtual_dataset(name, layout)

    path = small_darcy(tmp_path / "vds.h5", nu=virtual)
    refused(path, capsys, "'nu' is a virtual dataset")


def test_links_out_of_the_file_are_refused_and_soft_links_inside_it_followed(tmp_path, capsys):
    other = small_darcy(tmp_path / "other.h5")

    def external(f, name):
        f[name] = h5py.ExternalLink(str(other), "/nu")

    refused(small_darcy(tmp_path / "a.h5", nu=external), capsys, "'nu' is reached through a link to another file")

    def through_external_group(f, name):  # a soft link inside the file, through a group that is not
        f["elsewhere"] = h5py.ExternalLink(str(other), "/")
        f[name] = h5py.SoftLink("/elsewhere/x-coordinate")

    path = small_darcy(tmp_path / "b.h5", **{"x-coordinate": through_external_group})
    refused(path, capsys, "'x-coordinate' is reached through a link to another file ('elsewhere')")

    def loop(f, name):
        f[name] = h5py.SoftLink("/loop")
        f["loop"] = h5py.SoftLink(f"/{name}")

    refused(small_darcy(tmp_path / "c.h5", nu=loop), capsys, "too many soft links on the way to 'nu'")

    def inside(f, name):
        f["fields/coefficient"] = np.full((3, 4, 4), 2.0)
        f[name] = h5py.SoftLink("fields/coefficient")

    path = small_darcy(tmp_path / "d.h5", nu=inside)
    check_samples(describe(path))
    assert (PDEBenchDataset(path, "all")[1][0] == 2.0).all()


@pytest.mark.parametrize(
    "value,kind",
    [
        (np.full((3, 4, 4), 1 + 2j), "complex128"),
        (np.ones((3, 4, 4), bool), "bool"),
        (np.full((3, 4, 4), b"1.0"), "string"),
        (np.zeros((3, 4, 4), [("re", "f8"), ("im", "f8")]), "compound"),
    ],
)
def test_samples_of_non_real_types_are_refused_not_cast(tmp_path, capsys, value, kind):
    def write(f, name):
        f[name] = value

    path = small_darcy(tmp_path / "t.h5", nu=write)
    refused(path, capsys, f"'nu' holds {kind} values; expected real numbers")
    series = small_series(tmp_path / "s.h5", **{"0001/data": lambda f, name: f.create_dataset(name, data=value[None])})
    with pytest.raises(WNOEdgeError, match=f"'0001/data' holds {kind} values"):
        check_samples(describe(series))


def test_samples_of_real_types_are_read_as_float32(tmp_path):
    reference = np.arange(48).reshape(3, 4, 4)
    for dtype in ("i1", "u2", "i8", "f2", "f4", ">f8"):
        path = small_darcy(
            tmp_path / f"{dtype}.h5", nu=lambda f, n, d=dtype: f.create_dataset(n, data=reference.astype(d))
        )
        check_samples(describe(path))
        a, _ = PDEBenchDataset(path, "all")[2]
        assert a.dtype == torch.float32
        np.testing.assert_array_equal(a[0].numpy(), reference[2].astype(np.float32))


@pytest.mark.parametrize(
    "replace,message",
    [
        ({"x-coordinate": lambda f, n: f.create_dataset(n, data=np.array([b"0", b"1", b"2", b"3"]))}, "string"),
        ({"y-coordinate": lambda f, n: f.create_dataset(n, data=np.arange(4) * 1j)}, "complex128"),
    ],
)
def test_non_numeric_coordinates_are_one_line(tmp_path, capsys, replace, message):
    path = small_darcy(tmp_path / "c.h5", **replace)
    refused(path, capsys, f"holds {message} values; expected real numbers")


def test_empty_grids_are_one_line(tmp_path, capsys):
    def empty(shape):
        return lambda f, name: f.create_dataset(name, data=np.ones(shape))

    path = small_darcy(
        tmp_path / "d.h5",
        nu=empty((3, 0, 4)),
        tensor=empty((3, 1, 0, 4)),
        **{"x-coordinate": empty((0,))},
    )
    refused(path, capsys, "'nu' has shape (3, 0, 4): an empty grid")
    series = {"0000/data": empty((3, 4, 4, 0))}
    refused(small_series(tmp_path / "s.h5", **series), capsys, "'0000/data' has shape (3, 4, 4, 0): an empty grid")
    no_frames = {"0000/data": empty((0, 4, 4, 1)), "0000/grid/t": empty((0,))}
    refused(small_series(tmp_path / "t.h5", **no_frames), capsys, "'0000/data' has shape (0, 4, 4, 1): an empty grid")


def declare(shape, chunks, written=None, fillvalue=0.0, dtype="f8"):
    """A dataset that declares `shape` and stores only the chunks `written` touches."""

    def write(f, name):
        ds = f.create_dataset(name, shape, dtype, chunks=chunks, fillvalue=fillvalue)
        if written is not None:
            ds[written] = 1.0

    return write


def test_declared_sizes_beyond_the_bounds_are_refused_before_reading(tmp_path, capsys, monkeypatch):
    huge = {
        "nu": declare((10**9, 10**4, 10**4), (1, 64, 64)),
        "tensor": declare((10**9, 1, 10**4, 10**4), (1, 1, 64, 64)),
        "x-coordinate": declare((10**4,), (1024,)),
        "y-coordinate": declare((10**4,), (1024,)),
    }
    path = small_darcy(tmp_path / "huge.h5", **huge)
    assert path.stat().st_size < 2**20  # a small file
    refused(path, capsys, "'nu' declares 1000000000 samples, more than the 1000000")
    frames = {"0000/data": declare((10**9, 4, 4, 1), (1024, 4, 4, 1)), "0000/grid/t": declare((10**9,), (2**16,))}
    refused(small_series(tmp_path / "t.h5", **frames), capsys, "an axis longer than 65536 points")
    grid = {"0000/data": declare((2, 2**14, 2**14, 1), (1, 64, 64, 1))}
    refused(small_series(tmp_path / "g.h5", **grid), capsys, f"{2**29} values per sample, more than {2**28}")
    chunk = {"0000/data": declare((3, 4, 4, 1), (3, 4, 4, 1))}
    monkeypatch.setattr("wno_edge.data.pdebench.MAX_CHUNK_VALUES", 16)
    refused(
        small_series(tmp_path / "c.h5", **chunk), capsys, "'0000/data' is stored in chunks of 48 values, more than 16"
    )


def test_check_reads_the_chunks_a_file_stores_not_the_shape_it_declares(tmp_path, dataset_reads):
    n = 2048  # declared: 2 x 2048 x 2048 doubles per dataset (64 MiB), stored: one 64 x 64 chunk each
    written = (1, slice(64, 128), slice(0, 64))
    path = small_darcy(
        tmp_path / "sparse.h5",
        nu=declare((2, n, n), (1, 64, 64), written),
        tensor=declare((2, 1, n, n), (1, 1, 64, 64), (1, 0, slice(0, 64), slice(0, 64))),
        **{"x-coordinate": declare((n,), (n,), slice(None)), "y-coordinate": declare((n,), (n,), slice(None))},
    )
    read = dataset_reads
    info = describe(path)
    check_samples(info)
    assert sum(size for name, _, size in read if name in ("/nu", "/tensor")) == 2 * 64 * 64
    with h5py.File(path, "r+") as f:  # a value in the stored chunk is found, and named by its sample
        f["nu"][1, 100, 10] = np.nan
    with pytest.raises(WNOEdgeError, match=r"Darcy sample 1 \('nu'\) contains NaN or Inf"):
        check_samples(info)
    nan_fill = small_darcy(tmp_path / "nanfill.h5", tensor=declare((3, 1, 4, 4), (1, 1, 2, 2), fillvalue=np.nan))
    with pytest.raises(WNOEdgeError, match="'tensor' has unwritten parts whose fill value is NaN or Inf"):
        check_samples(describe(nan_fill))


def test_check_streams_contiguous_data_in_bounded_blocks(tmp_path, monkeypatch, dataset_reads):
    monkeypatch.setattr("wno_edge.data.pdebench.READ_BLOCK_VALUES", 7)
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:  # contiguous, like generated files: (T, X, Y, C) = (5, 3, 4, 1)
        for key in ("0000", "0001"):
            f[f"{key}/data"] = np.zeros((5, 3, 4, 1))
            f[f"{key}/grid/x"], f[f"{key}/grid/y"], f[f"{key}/grid/t"] = np.arange(3.0), np.arange(4.0), np.arange(5.0)
        f["0001/data"][4, 2, 3, 0] = np.inf  # the last value read
    read = dataset_reads
    with pytest.raises(WNOEdgeError, match="sample '0001' contains NaN or Inf"):
        check_samples(describe(path))
    blocks = [size for name, _, size in read if name.endswith("/data")]
    assert max(blocks) == 4 and sum(blocks) == 2 * 60  # rows of Y * C = 4 values (a row of X * Y * C is 12 > 7)


def test_blocks_cover_a_shape_once_within_the_limit():
    from wno_edge.data.pdebench import _blocks

    for shape in [(5, 3, 4, 1), (1,), (7, 7), (2, 100), (3, 1, 1, 9)]:
        for limit in (1, 3, 7, 12, 1000):
            seen = np.zeros(shape, int)
            for selection in _blocks(shape, limit):
                seen[selection] += 1
                assert seen[selection].size <= limit
            assert (seen == 1).all()


def test_statistics_stream_in_bounded_blocks_and_equal_those_of_all_data_at_once(files, monkeypatch):
    monkeypatch.setattr("wno_edge.data.pdebench.READ_BLOCK_VALUES", 1000)  # 101 frames of 512 values: 1 per read
    ds = PDEBenchDataset(files["diffusion-reaction"], "train")
    stats = normalization_stats(ds)
    data = load(files["diffusion-reaction"])[1:].astype(np.float64)
    np.testing.assert_allclose(stats.output_mean, data.mean(axis=(0, 1, 2, 3)), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stats.output_std, data.std(axis=(0, 1, 2, 3)), rtol=1e-9)


def count_groups(monkeypatch):
    """How many h5py Group objects (the file, groups) the code under test opens."""
    opened = []
    original = h5py.Group.__init__

    def counting(self, *args, **kwargs):
        opened.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "__init__", counting)
    return opened


def test_many_sample_groups_are_refused_without_walking_them(tmp_path, capsys, monkeypatch):
    path = tmp_path / "groups.h5"
    with h5py.File(path, "w") as f:
        for i in range(300):  # PDEBench's per-sample groups, here without their data
            f.create_group(f"{i:04d}")
    opened = count_groups(monkeypatch)
    refused(path, capsys, "missing dataset 'data' in group '0000'")
    assert len(opened) <= 2 * 3  # per refusal (reader, CLI): the file, its first sample group, no more
    monkeypatch.setattr("wno_edge.data.pdebench.MAX_SAMPLES", 299)
    opened.clear()
    refused(path, capsys, "the file holds 300 top-level entries, more than the 299 samples")
    assert len(opened) <= 2  # counted from the file's metadata: no group opened


def test_sample_keys_are_ascii_digits(tmp_path):
    path = small_series(tmp_path / "s.h5")
    with h5py.File(path, "r+") as f:
        f["²"] = f["0001"]  # str.isdigit, but int() refuses it
        f["9" * 40] = f["0001"]  # more digits than int() takes
    assert describe(path).sample_keys == ("0000", "0001")


def test_task_attribute_that_is_not_a_name_is_guessed(tmp_path):
    path = small_series(tmp_path / "s.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["task"] = np.void(b"\xff\xfe\nx")
        f.attrs["big"] = np.zeros(5000)  # more values than metadata keeps: left out
    info = describe(path)
    assert info.task == "shallow-water" and "big" not in info.attrs
    with h5py.File(path, "r+") as f:
        f.attrs["task"] = b"\xffdarcy\nflow"
    assert describe(path).task == "shallow-water"


# The CLI in a child process whose address space is capped a little above its size after the
# imports: reading more than the cap fails there (MemoryError) instead of slowing the machine.
CAPPED_INSPECT = """
import contextlib, io, json, resource, sys
from wno_edge.cli import main
import wno_edge.data.pdebench  # torch and h5py: part of the baseline

def mapped():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))

limit = mapped() + int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
results = []
for path in sys.argv[2:]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(["data", "inspect", "--check", path])
        except BaseException as e:  # MemoryError: the read was not bounded
            code = type(e).__name__
    results.append([code, err.getvalue()])
print(json.dumps(results))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmSize from /proc")
def test_inspect_check_memory_is_bounded_by_what_is_stored_not_what_is_declared(tmp_path):
    n = 8192  # Darcy: 2 samples of 8192 x 8192 doubles (512 MiB each) declared, one 256 x 256 chunk stored
    darcy = small_darcy(
        tmp_path / "darcy.h5",
        nu=declare((2, n, n), (1, 256, 256), (0, slice(0, 256), slice(0, 256))),
        tensor=declare((2, 1, n, n), (1, 1, 256, 256)),
        **{"x-coordinate": declare((n,), (n,), slice(None)), "y-coordinate": declare((n,), (n,), slice(None))},
    )
    long = {  # a trajectory of 65536 frames of 64 x 64 floats (1 GiB) declared, 64 frames stored
        "0000/data": declare((2**16, 64, 64, 1), (64, 64, 64, 1), slice(0, 64), dtype="f4"),
        "0000/grid/x": declare((64,), (64,), slice(None)),
        "0000/grid/y": declare((64,), (64,), slice(None)),
        "0000/grid/t": declare((2**16,), (2**16,), slice(None)),
    }
    series = small_series(tmp_path / "series.h5", samples=1, **long)
    frames = {"0000/data": declare((10**9, 4, 4, 1), (1024, 4, 4, 1)), "0000/grid/t": declare((10**9,), (2**16,))}
    too_long = small_series(tmp_path / "frames.h5", samples=1, **frames)
    too_many = small_darcy(
        tmp_path / "samples.h5",
        nu=declare((10**9, 10**4, 10**4), (1, 64, 64)),
        tensor=declare((10**9, 1, 10**4, 10**4), (1, 1, 64, 64)),
        **{"x-coordinate": declare((10**4,), (1024,)), "y-coordinate": declare((10**4,), (1024,))},
    )
    files = [darcy, series, too_long, too_many]
    assert all(f.stat().st_size < 2**21 for f in files)
    child = subprocess.run(
        [sys.executable, "-c", CAPPED_INSPECT, str(512 * 2**20), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=600,  # a hang, not a measurement: the four checks take seconds
    )
    assert child.returncode == 0, child.stderr[-2000:]
    (ok1, err1), (ok2, err2), (code3, err3), (code4, err4) = json.loads(child.stdout)
    assert (ok1, err1, ok2, err2) == (0, "", 0, "")
    assert code3 == 1 and err3.count("\n") == 1 and "an axis longer than 65536 points" in err3
    assert code4 == 1 and err4.count("\n") == 1 and "'nu' declares 1000000000 samples" in err4
