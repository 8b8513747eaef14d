"""PDEBench's 1-D readers: the three layouts, items, PDEBench's splits, subsampling, statistics,
lazy access, and hostile files refused in one line."""

import h5py
import numpy as np
import pytest
import torch
from hostile_files import run_bounded

from wno_edge.data import (
    PDEBench1dDataset,
    PDEBenchDataset,
    check_samples_1d,
    describe,
    describe_1d,
    normalization_stats_1d,
)
from wno_edge.errors import WNOEdgeError

N, T, X = 10, 7, 8
RNG = np.random.default_rng(0)
TENSOR = RNG.standard_normal((N, T, X)).astype(np.float32)
CFD = {name: RNG.standard_normal((N, T, X)).astype(np.float32) for name in ("density", "pressure", "Vx")}
SERIES = RNG.standard_normal((N, T, X, 1)).astype(np.float32)
XC = (np.arange(X) + 0.5) / X


def single_file(path, attrs=None, t_size=T + 1, **replace):
    """PDEBench's single-array layout (Data_Merge.py's transform): t-coordinate one longer
    than the frames. `replace` maps a name to a function (file, name) -> None that writes
    something else there."""
    values = {"tensor": TENSOR, "x-coordinate": XC, "t-coordinate": np.arange(t_size) * 0.01}
    with h5py.File(path, "w") as f:
        for key, value in values.items():
            if key in replace:
                replace[key](f, key)
            else:
                f[key] = value
        f.attrs.update({"Nu": 0.01} if attrs is None else attrs)
    return path


def cfd_file(path, **replace):
    values = {**CFD, "x-coordinate": XC, "t-coordinate": np.arange(T + 1) * 0.05}
    with h5py.File(path, "w") as f:
        for key, value in values.items():
            if key in replace:
                replace[key](f, key)
            else:
                f[key] = value
        f.attrs["eta"], f.attrs["zeta"] = 0.1, 0.1
    return path


def series_file(path, samples=N, **replace):
    """Diffusion-sorption: one group per sample, data (T, X, 1)."""
    with h5py.File(path, "w") as f:
        for i in range(samples):
            for key, value in (("data", SERIES[i]), ("grid/x", XC), ("grid/t", np.arange(T) * 5.0)):
                name = f"{i:04d}/{key}"
                if name in replace:
                    f.require_group(name.rsplit("/", 1)[0])
                    replace[name](f, name)
                else:
                    f[name] = value
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("pdebench1d")
    return {
        "single": single_file(root / "1D_Burgers_Sols_Nu0.01.hdf5"),
        "cfd": cfd_file(root / "1D_CFD_periodic_Train.hdf5"),
        "series": series_file(root / "1D_diff-sorp_NA_NA.h5"),
    }


def reference(layout):
    """(N, T, C, X): everything in memory, what the lazy readers are checked against."""
    if layout == "single":
        return TENSOR[:, :, None]
    if layout == "cfd":
        return np.stack([CFD["density"], CFD["pressure"], CFD["Vx"]], axis=2)
    return SERIES.transpose(0, 1, 3, 2)


def test_layouts_are_detected_with_their_metadata(files, tmp_path):
    single = describe_1d(files["single"])
    assert (single.layout, single.task, single.n_samples, single.n_points, single.n_channels, single.n_times) == (
        "single-array",
        "burgers",
        N,
        X,
        1,
        T,
    )
    np.testing.assert_allclose(single.t, np.arange(T) * 0.01)  # PDEBench's T + 1 entries, cut to the frames
    assert single.domain == pytest.approx((0.0, 1.0)) and single.attrs["Nu"] == 0.01
    cfd = describe_1d(files["cfd"])
    assert (cfd.layout, cfd.task, cfd.fields, cfd.n_channels) == ("cfd", "cfd", ("density", "pressure", "Vx"), 3)
    series = describe_1d(files["series"])
    assert (series.layout, series.task, series.n_samples, series.n_times, series.sample_keys[:2]) == (
        "series",
        "diffusion-sorption",
        N,
        T,
        ("0000", "0001"),
    )
    for attrs, task in (
        ({"beta": 0.4}, "advection"),
        ({"Nu": 0.5, "rho": 1.0}, "reaction-diffusion"),
        ({}, "single-array"),
    ):
        assert describe_1d(single_file(tmp_path / f"{task}.h5", attrs)).task == task
    assert describe_1d(single_file(tmp_path / "t.h5", t_size=T)).t.shape == (T,)  # (T,) is read as well


@pytest.mark.parametrize("layout", ["single", "cfd", "series"])
def test_items_are_initial_step_frames_in_and_the_next_frame_out(files, layout):
    data = reference(layout)  # (N, T, C, X)
    c = data.shape[2]
    ds = PDEBench1dDataset(files[layout], "all", initial_step=3)
    assert len(ds) == N * (T - 3) and (ds.in_channels, ds.out_channels, ds.resolution) == (3 * c, c, X)
    sample, start = 6, 2
    x, y = ds[sample * (T - 3) + start]
    assert x.dtype == y.dtype == torch.float32 and x.shape == (3 * c, X) and y.shape == (c, X)
    np.testing.assert_array_equal(x.numpy(), data[sample, start : start + 3].reshape(3 * c, X))  # channel = frame*C + c
    np.testing.assert_array_equal(y.numpy(), data[sample, start + 3])
    np.testing.assert_array_equal(ds.trajectory(4).numpy(), data[4])
    np.testing.assert_array_equal(ds[-1][1].numpy(), data[-1, -1])


def pdebench_single_split(n, if_test, test_ratio=0.1, reduced_batch=1, num_samples_max=-1):
    """FNODatasetSingle's sample indices (pdebench/models/fno/utils.py), as written there."""
    data = np.arange(n)[::reduced_batch]
    num_samples_max = min(num_samples_max, data.shape[0]) if num_samples_max > 0 else data.shape[0]
    test_idx = int(num_samples_max * test_ratio)
    return data[:test_idx] if if_test else data[test_idx:num_samples_max]


def pdebench_mult_split(keys, if_test, test_ratio=0.1):
    """FNODatasetMult's groups."""
    data_list = sorted(keys)
    test_idx = int(len(data_list) * (1 - test_ratio))
    return data_list[test_idx:] if if_test else data_list[:test_idx]


@pytest.mark.parametrize("layout", ["single", "cfd"])
@pytest.mark.parametrize(
    "ratio,reduced_batch,num_samples_max", [(0.1, 1, -1), (0.25, 1, -1), (0.2, 2, -1), (0.3, 1, 7)]
)
def test_split_is_pdebench_fno_dataset_single(files, layout, ratio, reduced_batch, num_samples_max):
    options = {"test_fraction": ratio, "sample_reduce": reduced_batch, "initial_step": 1}
    if num_samples_max > 0:
        options["max_samples"] = num_samples_max
    for split, if_test in (("train", False), ("test", True)):
        ds = PDEBench1dDataset(files[layout], split, **options)
        assert ds.indices.tolist() == pdebench_single_split(N, if_test, ratio, reduced_batch, num_samples_max).tolist()
    last = PDEBench1dDataset(files[layout], "test", test_split="last", initial_step=1)
    assert last.indices.tolist() == [N - 1]


def test_split_is_pdebench_fno_dataset_mult_for_sample_groups(files):
    keys = describe_1d(files["series"]).sample_keys
    for ratio in (0.1, 0.25, 0.35):
        for split, if_test in (("train", False), ("test", True)):
            ds = PDEBench1dDataset(files["series"], split, test_fraction=ratio, initial_step=1)
            assert [keys[i] for i in ds.indices] == pdebench_mult_split(keys, if_test, ratio)
    assert PDEBench1dDataset(files["series"], "test", test_split="first", initial_step=1).indices.tolist() == [0]


def test_subsampling_in_space_time_and_samples(files):
    data = reference("cfd")
    for options in ({"reduce": 2}, {"resolution": 4}):
        ds = PDEBench1dDataset(files["cfd"], "all", time_reduce=2, initial_step=2, **options)
        assert ds.resolution == 4 and len(ds.t) == 4 and len(ds) == N * 2
        np.testing.assert_array_equal(ds.trajectory(3).numpy(), data[3, ::2, :, ::2])
        x, y = ds[3 * 2 + 1]  # sample 3, start 1: frames 2, 4 in, 6 out
        np.testing.assert_array_equal(x.numpy(), data[3, 2:5:2, :, ::2].reshape(6, 4))
        np.testing.assert_array_equal(y.numpy(), data[3, 6, :, ::2])
    ds = PDEBench1dDataset(files["single"], "all", sample_reduce=3, initial_step=1)
    assert ds.indices.tolist() == [0, 3, 6, 9]


@pytest.mark.parametrize(
    "options,message",
    [
        ({"resolution": 3}, "cannot subsample 8 points to 3"),
        ({"reduce": 0}, "reduce factor must be >= 1"),
        ({"reduce": 2, "resolution": 4}, "either reduce or resolution"),
        ({"initial_step": T}, f"initial_step must be in [1, {T - 1}]"),
        ({"time_reduce": 0}, "time_reduce must be >= 1"),
        ({"sample_reduce": 0}, "sample_reduce must be >= 1"),
        ({"max_samples": 0}, "max_samples must be >= 1"),
        ({"split": "valid"}, "split must be one of"),
        ({"test_split": "middle"}, "test_split must be one of"),
    ],
)
def test_bad_options_are_one_line(files, options, message):
    with pytest.raises(WNOEdgeError) as err:
        PDEBench1dDataset(files["single"], **options)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("layout", ["single", "series"])
def test_normalization_stats_equal_those_of_all_training_data_at_once(files, layout, monkeypatch):
    monkeypatch.setattr("wno_edge.data.pdebench1d.READ_BLOCK_VALUES", 2 * X)  # two frames per read
    ds = PDEBench1dDataset(files[layout], "train", initial_step=2)
    stats = normalization_stats_1d(ds)
    data = reference(layout)[ds.indices].astype(np.float64)
    mean, std = data.mean(axis=(0, 1, 3)), data.std(axis=(0, 1, 3))
    np.testing.assert_allclose(stats.output_mean, mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stats.output_std, std, rtol=1e-9)
    np.testing.assert_allclose(stats.input_std, np.tile(std, 2), rtol=1e-9)


# ---------------------------------------------------------------- lazy access


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


FIELDS = ("/tensor", "/density", "/pressure", "/Vx")


def test_opening_reads_metadata_and_an_item_reads_one_window_of_one_sample(files, dataset_reads):
    reads = dataset_reads
    ds = PDEBench1dDataset(files["cfd"], "train", initial_step=2)  # train: samples 1..9
    assert not [name for name, *_ in reads if name in FIELDS]  # coordinates only
    reads.clear()
    ds[3 * (T - 2) + 4]  # train item: sample 4, frames 4..6
    assert [(name, sel) for name, sel, _ in reads] == [(name, (4, slice(4, 7))) for name in FIELDS[1:]]
    assert sum(size for *_, size in reads) == 3 * 3 * X
    series = PDEBench1dDataset(files["series"], "train", initial_step=2)
    reads.clear()
    series[5 * (T - 2) + 1]
    assert [(name, sel) for name, sel, _ in reads] == [("/0005/data", slice(1, 4))]


def test_dataloader_workers_open_their_own_handles(files):
    ds = PDEBench1dDataset(files["single"], "all", initial_step=4)
    expected = torch.stack([ds[i][1] for i in range(len(ds))])  # the parent's handle is now open
    got = torch.cat([y for _, y in torch.utils.data.DataLoader(ds, batch_size=8, num_workers=2)])
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


# ---------------------------------------------------------------- hostile files


def refused(path, *messages, reader=describe_1d):
    """`reader(path)` (and a full check, where describe passes) raises one line naming the
    file and every message."""
    with pytest.raises(WNOEdgeError) as err:
        info = reader(path)
        check_samples_1d(info)
    text = str(err.value)
    assert "\n" not in text and len(text) < 500 and str(path) in text and all(m in text for m in messages), text
    return text


def write(value, **kwargs):
    return lambda f, name: f.create_dataset(name, data=value, **kwargs)


def declare(shape, chunks, written=None, dtype="f4"):
    """A dataset that declares `shape` and stores only the chunks `written` touches."""

    def make(f, name):
        ds = f.create_dataset(name, shape, dtype, chunks=chunks)
        if written is not None:
            ds[written] = 1.0

    return make


def test_nan_is_refused_where_it_is_read(files, tmp_path):
    import shutil

    path = shutil.copy(files["cfd"], tmp_path / "nan.hdf5")
    with h5py.File(path, "r+") as f:
        f["pressure"][5, 6, 3] = np.nan
    ds = PDEBench1dDataset(path, "all", initial_step=2)
    ds[5 * (T - 2)]  # frames 0..2 of sample 5 are clean
    with pytest.raises(WNOEdgeError, match=r"sample 5 contains NaN or Inf"):
        ds[5 * (T - 2) + 4]
    refused(path, "sample 5 ('pressure') contains NaN or Inf")
    series = series_file(tmp_path / "s.h5", **{"0003/data": write(np.where(SERIES[3] > 1, np.inf, SERIES[3]))})
    refused(series, "sample '0003' contains NaN or Inf")


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: single_file(p, tensor=write(np.ones((N, T)))), "'tensor' has shape (10, 7), expected (N, T, X)"),
        (lambda p: single_file(p, t_size=T + 2), "'t-coordinate' has shape (9,), expected (7,) or (8,)"),
        (
            lambda p: single_file(p, **{"x-coordinate": write(np.ones(X + 1))}),
            "'x-coordinate' has shape (9,), expected (8,)",
        ),
        (lambda p: single_file(p, tensor=write(np.ones((0, T, X)))), "'tensor' holds no samples"),
        (lambda p: single_file(p, tensor=write(np.ones((N, T, 0)))), "an empty grid"),
        (lambda p: cfd_file(p, pressure=write(np.ones((N, T, X + 1)))), "'pressure' has shape (10, 7, 9), expected"),
        (lambda p: cfd_file(p, density=write(np.ones((N, T, X, X)))), "a 1-D CFD file (2-D and 3-D CFD are not read)"),
        (lambda p: cfd_file(p, Vx=lambda f, n: None), "missing dataset 'Vx'"),
        (lambda p: series_file(p, **{"0004/data": write(np.ones((T, X, 2)))}), "'0004/data' has shape (7, 8, 2)"),
        (lambda p: series_file(p, **{"0000/grid/t": write(np.ones(T - 1))}), "'0000/grid/t' has shape (6,)"),
        (lambda p: h5py.File(p, "w").create_dataset("u", data=[1.0]).file.close(), "unknown 1-D layout"),
        (lambda p: p.write_text("not hdf5"), "not a readable HDF5 file"),
    ],
)
def test_wrong_shapes_and_missing_entries_are_one_line(tmp_path, make, message):
    path = tmp_path / "bad.h5"
    make(path)
    refused(path, message)


def test_one_dimensional_and_two_dimensional_readers_point_at_each_other(files, tmp_path):
    for layout in ("single", "cfd", "series"):
        refused(files[layout], "PDEBench1dDataset", reader=describe)
    with h5py.File(tmp_path / "darcy.h5", "w") as f:
        f["nu"], f["tensor"] = np.ones((2, 4, 4)), np.ones((2, 1, 4, 4))
    refused(tmp_path / "darcy.h5", "a 2-D Darcy file; read it with PDEBenchDataset")
    with h5py.File(tmp_path / "swe.h5", "w") as f:
        f["0000/data"] = np.ones((3, 4, 4, 1))
    refused(tmp_path / "swe.h5", "a 2-D time series (T, X, Y, C); read it with PDEBenchDataset")
    with pytest.raises(WNOEdgeError, match="PDEBench1dDataset"):
        PDEBenchDataset(files["single"])


def test_values_kept_outside_the_file_are_refused(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.full(N * T * X, 7.0, np.float32).tobytes())  # another file's bytes: never samples

    def external(f, name):
        shape = (N, T, X) if name != "0001/data" else (T, X, 1)
        f.create_dataset(name, shape, "f4", external=[(str(secret), 0, 4 * int(np.prod(shape)))])

    refused(single_file(tmp_path / "a.h5", tensor=external), "'tensor' keeps its values in an external file")
    path = series_file(tmp_path / "b.h5", **{"0001/data": external})
    refused(path, "'0001/data' keeps its values in an external file")
    ds = PDEBench1dDataset(path, "all", initial_step=1)  # training refuses sample 1 when it gets there
    ds[0]
    with pytest.raises(WNOEdgeError, match="'0001/data' keeps its values in an external file"):
        ds[T - 1]
    other = single_file(tmp_path / "other.h5")

    def link(f, name):
        f[name] = h5py.ExternalLink(str(other), "/tensor")

    linked = single_file(tmp_path / "c.h5", tensor=link)
    refused(linked, "'tensor' is reached through a link to another file")

    def virtual(f, name):
        layout = h5py.VirtualLayout((N, T, X), "f4")
        layout[:] = h5py.VirtualSource(str(other), "tensor", shape=(N, T, X))
        f.create_virtual_dataset(name, layout)

    refused(single_file(tmp_path / "d.h5", tensor=virtual), "'tensor' is a virtual dataset")


@pytest.mark.parametrize("value,kind", [(np.full((N, T, X), 1 + 2j), "complex128"), (np.ones((N, T, X), bool), "bool")])
def test_non_real_values_are_refused_not_cast(tmp_path, value, kind):
    refused(cfd_file(tmp_path / "c.h5", Vx=write(value)), f"'Vx' holds {kind} values; expected real numbers")


def test_declared_sizes_beyond_the_bounds_are_refused_before_reading(tmp_path):
    many = single_file(tmp_path / "n.h5", tensor=declare((10**9, T, X), (1, T, X)))
    refused(many, "'tensor' declares 1000000000 samples, more than the 1000000")
    frames = single_file(tmp_path / "t.h5", tensor=declare((2, 10**9, X), (1, 1024, X)))
    refused(frames, "an axis longer than 65536 points")
    values = cfd_file(tmp_path / "v.h5", density=declare((2, 2**14, 2**13), (1, 64, 1024)))
    refused(values, f"{3 * 2**27} values per sample, more than {2**28}")
    series = series_file(tmp_path / "s.h5", 1, **{"0000/data": declare((10**9, X, 1), (1024, X, 1))})
    refused(series, "'0000/data' has shape (1000000000, 8, 1): an axis longer than 65536 points")
    assert all(p.stat().st_size < 2**20 for p in (many, frames, values, series))  # small files


BOUNDED_CHECK = """
import sys
from wno_edge.data import PDEBench1dDataset, check_samples_1d, describe_1d
info = describe_1d(sys.argv[1])
check_samples_1d(info)  # reads the chunks the file stores, not the 1 GiB per sample it declares
ds = PDEBench1dDataset(sys.argv[1], "all", initial_step=1)
x, y = ds[0]
print("ok", tuple(x.shape))
"""


def test_a_sparse_file_declaring_gigabytes_is_checked_within_bounded_memory(tmp_path):
    # 2 samples of 4096 frames x 65536 points (2**28 values, 1 GiB as float32, each) declared;
    # one chunk stored. A child with 3 GiB of address space checks it and reads an item.
    path = single_file(
        tmp_path / "sparse.h5",
        tensor=declare((2, 4096, 65536), (1, 16, 65536), (0, slice(0, 16))),
        t_size=4096,
        **{"x-coordinate": write(np.linspace(0, 1, 65536))},
    )
    assert path.stat().st_size < 2**23
    run = run_bounded(BOUNDED_CHECK.replace("sys.argv[1]", repr(str(path))))
    assert run.returncode == 0 and run.stdout.strip() == "ok (1, 65536)", run.stdout + run.stderr[-2000:]
