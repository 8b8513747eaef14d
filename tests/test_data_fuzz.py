"""Fuzzing the PDEBench readers (issue #20 item 6): small valid files of each layout, mutated
(shapes, dtypes, attributes, links, storage, missing or extra entries), either load, check and
train-read cleanly or raise a one-line WNOEdgeError; never another exception."""

import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wno_edge.cli import main
from wno_edge.data import PDEBenchDataset, describe, normalization_stats
from wno_edge.data.pdebench import check_samples
from wno_edge.errors import WNOEdgeError

DARCY_NAMES = ("nu", "tensor", "x-coordinate", "y-coordinate")
SERIES_NAMES = ("0000/data", "0001/data", "0000/grid/x", "0000/grid/y", "0000/grid/t", "0001/grid/t")
SERIES_GROUPS = ("0000", "0001", "0000/grid")


def write_base(path: Path, layout: str, channels: int) -> None:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        if layout == "darcy":
            f["nu"] = rng.random((3, 4, 4))
            f["tensor"] = rng.random((3, 1, 4, 4)).astype(np.float32)
            f["x-coordinate"] = f["y-coordinate"] = (np.arange(4) + 0.5) / 4
            f.attrs["beta"] = 1.0
        else:
            for key in ("0000", "0001"):
                f[f"{key}/data"] = rng.random((5, 4, 4, channels)).astype(np.float32)
                f[f"{key}/grid/x"] = f[f"{key}/grid/y"] = np.linspace(-1, 1, 4)
                f[f"{key}/grid/t"] = np.linspace(0, 1, 5)


DTYPES = [
    np.complex64,
    np.bool_,
    np.int8,
    np.uint64,
    np.float16,
    ">f4",
    "S3",
    h5py.string_dtype(),
    np.dtype([("a", "f4"), ("b", "i2")]),
    np.dtype(("f4", (2,))),
    h5py.enum_dtype({"LOW": 0, "HIGH": 1}, basetype="i1"),
    h5py.ref_dtype,
]
ATTR_VALUES = [
    b"\xff\xfe",
    "darcy",
    "shallow-water\n",
    "x" * 1000,
    np.zeros(5000),
    np.void(b"ab"),
    h5py.Empty("f4"),
    1 + 2j,
    np.arange(3),
    np.array([b"a", b"b"]),
]
VALUES = [np.nan, np.inf, -np.inf, 1e300, -1e39, 0.0]
TOP_LEVEL = ["0002", "²", "9" * 40, "0002 ", "nu", "tensor", "grid", "00"]


def _replace(f: h5py.File, name: str, make) -> None:
    if name in f:
        del f[name]
    if "/" in name:
        f.require_group(name.rsplit("/", 1)[0])
    make(name)


def _same_shape(f: h5py.File, name: str) -> tuple[int, ...]:
    obj = f.get(name)
    return obj.shape if isinstance(obj, h5py.Dataset) and obj.shape else (4,)


def apply(f: h5py.File, root: Path, mutation) -> None:
    op, name, arg = mutation
    if op == "delete":
        del f[name]
    elif op == "shape":
        _replace(f, name, lambda n: f.create_dataset(n, data=np.ones(arg)))
    elif op == "null":
        _replace(f, name, lambda n: f.create_dataset(n, data=h5py.Empty("f8")))
    elif op == "dtype":
        shape = _same_shape(f, name)
        _replace(f, name, lambda n: f.create_dataset(n, shape, dtype=arg))
    elif op == "value":
        f[name][(0,) * f[name].ndim] = arg
    elif op == "attr":
        target = f.get(name, f)
        target.attrs[arg[0]] = arg[1]
    elif op == "soft":
        _replace(f, name, lambda n: f.__setitem__(n, h5py.SoftLink(arg)))
    elif op == "hard":
        source = f[arg]
        _replace(f, name, lambda n: f.__setitem__(n, source))
    elif op == "external-link":
        other = root / "other.h5"
        if not other.exists():
            write_base(other, "darcy", 1)
        _replace(f, name, lambda n: f.__setitem__(n, h5py.ExternalLink(str(other), arg)))
    elif op == "external-storage":
        secret = root / "secret.bin"
        secret.write_bytes(np.full(4096, 3.0).tobytes())
        shape = _same_shape(f, name)
        count = int(np.prod(shape))
        _replace(f, name, lambda n: f.create_dataset(n, shape, "f8", external=[(str(secret), 0, 8 * count)]))
    elif op == "virtual":
        other = root / "other.h5"
        if not other.exists():
            write_base(other, "darcy", 1)
        layout = h5py.VirtualLayout((3, 4, 4), "f8")
        layout[:] = h5py.VirtualSource(str(other), "nu", shape=(3, 4, 4))
        _replace(f, name, lambda n: f.create_virtual_dataset(n, layout))
    elif op == "chunked":
        values = f[name][()] if isinstance(f.get(name), h5py.Dataset) else np.ones(4)
        values = np.atleast_1d(values)
        chunks = tuple(max(1, s // 2) for s in values.shape)

        def chunked(n):
            ds = f.create_dataset(n, values.shape, values.dtype, chunks=chunks, fillvalue=arg)
            ds[tuple(slice(0, c) for c in chunks)] = values[tuple(slice(0, c) for c in chunks)]

        _replace(f, name, chunked)
    elif op == "datatype":
        _replace(f, name, lambda n: f.__setitem__(n, np.dtype("f8")))
    elif op == "top-level":
        kind = arg
        if kind == "group":
            f.create_group(name)
        elif kind == "dataset":
            f[name] = np.ones((5, 4, 4, 1))
        else:
            f[name] = f["0000"] if "0000" in f else f["/"]


def mutations(layout: str):
    names = st.sampled_from(DARCY_NAMES if layout == "darcy" else SERIES_NAMES)
    anything = st.sampled_from(DARCY_NAMES if layout == "darcy" else SERIES_NAMES + SERIES_GROUPS)
    shapes = st.lists(st.integers(0, 6), min_size=0, max_size=5).map(tuple)
    targets = st.sampled_from(["/nu", "/missing", "x-coordinate", "/0001/data", "/0000", "/loop", "."])
    return st.one_of(
        st.tuples(st.just("delete"), anything, st.none()),
        st.tuples(st.just("shape"), names, shapes),
        st.tuples(st.just("null"), names, st.none()),
        st.tuples(st.just("dtype"), names, st.sampled_from(DTYPES)),
        st.tuples(st.just("value"), names, st.sampled_from(VALUES)),
        st.tuples(
            st.just("attr"),
            st.sampled_from(["/", "0000", "nu"]),
            st.tuples(st.sampled_from(["task", "beta", "config", "é"]), st.sampled_from(ATTR_VALUES)),
        ),
        st.tuples(st.just("soft"), anything, targets),
        st.tuples(st.just("hard"), anything, anything),
        st.tuples(st.just("external-link"), anything, st.sampled_from(["/nu", "/", "/missing"])),
        st.tuples(st.just("external-storage"), names, st.none()),
        st.tuples(st.just("virtual"), names, st.none()),
        st.tuples(st.just("chunked"), names, st.sampled_from([0.0, np.nan, np.inf])),
        st.tuples(st.just("datatype"), anything, st.none()),
        st.tuples(st.just("top-level"), st.sampled_from(TOP_LEVEL), st.sampled_from(["group", "dataset", "link"])),
    )


@st.composite
def mutated_files(draw):
    layout = draw(st.sampled_from(["darcy", "time-series"]))
    channels = draw(st.sampled_from([1, 2]))
    return layout, channels, draw(st.lists(mutations(layout), min_size=1, max_size=3))


def one_line(error: WNOEdgeError) -> None:
    text = str(error)
    assert text and "\n" not in text and "\r" not in text and len(text) <= 600, text


def exercise(path: Path) -> None:
    """Everything a user can do with the file: describe, check, train-read, statistics, CLI."""
    try:
        info = describe(path)
        with contextlib.suppress(WNOEdgeError):  # its own one-line error when the grid is not increasing
            assert len(info.domain) == 2
        check_samples(info)
        dataset = PDEBenchDataset(path, "all", initial_step=1)
        for i in range(len(dataset)):
            dataset[i]
        if info.layout == "time-series":
            for j in range(dataset.n_trajectories):
                dataset.trajectory(j)
        normalization_stats(dataset)
        dataset.close()
    except WNOEdgeError as e:
        one_line(e)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["data", "inspect", "--check", "--json", str(path)])
    assert code in (0, 1) and len(err.getvalue().splitlines()) == (code == 1), err.getvalue()


def fuzz_once(case) -> None:
    layout, channels, changes = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "data.h5"
        write_base(path, layout, channels)
        with h5py.File(path, "r+") as f:
            for change in changes:
                # a mutation that does not apply to this file (its target is gone) changes nothing
                with contextlib.suppress(Exception), warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # h5py casting a value into a narrower type
                    apply(f, root, change)
        exercise(path)
        assert os.listdir(root)  # the file is still there: nothing wrote or removed it


@settings(max_examples=40)
@given(mutated_files())
def test_mutated_files_load_or_fail_in_one_line(case):
    fuzz_once(case)


@pytest.mark.heavy
@settings(max_examples=3000)
@given(mutated_files())
def test_mutated_files_load_or_fail_in_one_line_long(case):
    fuzz_once(case)


def test_each_mutation_applies(tmp_path):
    """The fuzzer's mutations really change the files (a silently skipped one tests nothing)."""
    for layout, names in (("darcy", DARCY_NAMES), ("time-series", SERIES_NAMES)):
        for op, arg in (
            ("shape", (2, 3)),
            ("dtype", np.complex64),
            ("soft", "/missing"),
            ("external-storage", None),
            ("virtual", None),
            ("chunked", np.nan),
            ("external-link", "/nu"),
        ):
            path = tmp_path / f"{layout}-{op}.h5"
            write_base(path, layout, 1)
            with h5py.File(path, "r+") as f:
                apply(f, tmp_path, (op, names[0], arg))
            with pytest.raises(WNOEdgeError) as err:
                check_samples(describe(path))
            one_line(err.value)
