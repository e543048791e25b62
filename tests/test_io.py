import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdediff.io import (
    FileFormatError,
    atomic_h5,
    describe,
    load_tree,
    open_h5,
    read_attrs,
    save_tree,
    stale_temporaries,
    write_attrs,
    write_coordinate,
    write_dataset,
)

ROOT = Path(__file__).resolve().parents[1]


def temporaries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".pdediff-tmp"))


def test_tree_round_trip(tmp_path):
    tree = {
        "a": np.arange(5.0),
        "group": {"b": np.eye(2), "label": "x", "flag": True},
        "scalar": 3.5,
        "nested": {"deep": {"c": np.array([1, 2, 3])}},
        "meta": {"list": ["u", "v"], "mixed": [1, "a"], "none": None, "d": {"k": [1, 2]}},
    }
    path = save_tree(tmp_path / "t.h5", tree)
    back = load_tree(path)
    np.testing.assert_array_equal(back["a"], tree["a"])
    np.testing.assert_array_equal(back["group"]["b"], np.eye(2))
    assert back["group"]["label"] == "x"
    assert back["group"]["flag"] is True
    assert back["scalar"] == 3.5
    np.testing.assert_array_equal(back["nested"]["deep"]["c"], [1, 2, 3])
    assert back["meta"]["list"] == ["u", "v"]
    assert back["meta"]["mixed"] == [1, "a"]
    assert back["meta"]["none"] is None
    np.testing.assert_array_equal(back["meta"]["d"]["k"], [1, 2])  # a mapping is a group


def test_attributes_are_native_or_documented_json(tmp_path):
    with h5py.File(tmp_path / "a.h5", "w") as file:
        write_attrs(file, {"x": 1.5, "n": 3, "s": "text", "b": False, "v": [1.0, 2.0],
                           "names": ["a", "b"], "none": None, "d": {"a": 1}})
        raw = dict(file.attrs)
        back = read_attrs(file)
    # Native HDF5 types where one exists ...
    assert isinstance(raw["x"], np.floating) and isinstance(raw["n"], np.integer)
    assert raw["s"] == "text" and isinstance(raw["v"], np.ndarray)
    assert [v.decode() if isinstance(v, bytes) else v for v in raw["names"]] == ["a", "b"]
    # ... JSON strings under KEY_json otherwise; no private string encodings.
    assert json.loads(raw["none_json"]) is None and json.loads(raw["d_json"]) == {"a": 1}
    assert not any(str(v).startswith("__") for v in raw.values() if isinstance(v, str))
    assert back == {"x": 1.5, "n": 3, "s": "text", "b": False, "v": back["v"],
                    "names": ["a", "b"], "none": None, "d": {"a": 1}}
    np.testing.assert_array_equal(back["v"], [1.0, 2.0])


def test_reads_the_encoding_of_older_files(tmp_path):
    with h5py.File(tmp_path / "old.h5", "w") as file:
        file.attrs["meta"] = '__json__{"a": [1, 2]}'
        file.attrs["eps"] = "__none__"
        assert read_attrs(file) == {"meta": {"a": [1, 2]}, "eps": None}


def test_coordinates_and_datasets_open_in_xarray(tmp_path):
    path = tmp_path / "d.h5"
    with atomic_h5(path) as file:
        write_coordinate(file, "t", [0.0, 0.5], long_name="time", units="1")
        write_coordinate(file, "x", [1.0, 2.0, 3.0], long_name="position", units="m")
        write_dataset(file, "u", np.arange(6.0).reshape(2, 3), ("t", "x"), long_name="field",
                      units="1", attrs={"note": "n"}, compress=True)
    ds = xr.open_dataset(path, engine="h5netcdf")
    try:
        assert dict(ds.sizes) == {"t": 2, "x": 3}
        assert ds.u.dims == ("t", "x")
        np.testing.assert_array_equal(ds.x.values, [1.0, 2.0, 3.0])
        assert ds.x.attrs["units"] == "m" and ds.u.attrs["long_name"] == "field"
        assert not any(str(d).startswith("phony_dim") for d in ds.dims)
    finally:
        ds.close()


def test_write_dataset_refuses_unknown_or_mismatched_dims(tmp_path):
    with h5py.File(tmp_path / "d.h5", "w") as file:
        write_coordinate(file, "x", [1.0, 2.0], long_name="x")
        with pytest.raises(ValueError, match="dims: no coordinate 'y'"):
            write_dataset(file, "u", np.zeros((2, 2)), ("x", "y"), long_name="u")
        with pytest.raises(ValueError, match="dims: coordinate 'x' has length 2"):
            write_dataset(file, "v", np.zeros(3), ("x",), long_name="v")
        with pytest.raises(ValueError, match="dims: expected 2 names"):
            write_dataset(file, "w", np.zeros((2, 2)), ("x",), long_name="w")
        with pytest.raises(ValueError, match="values"):
            write_coordinate(file, "z", np.zeros((2, 2)), long_name="z")


def test_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.h5"
    with pytest.raises(KeyboardInterrupt):
        with atomic_h5(target) as file:
            file.create_dataset("x", data=np.zeros(10))
            assert len(temporaries(tmp_path)) == 1  # the temporary sits next to the target
            raise KeyboardInterrupt
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_keeps_previous_file(tmp_path):
    target = save_tree(tmp_path / "out.h5", {"x": np.ones(3)})
    with pytest.raises(RuntimeError):
        with atomic_h5(target) as file:
            file.create_dataset("x", data=np.zeros(3))
            raise RuntimeError("killed")
    np.testing.assert_array_equal(load_tree(target)["x"], np.ones(3))
    assert temporaries(tmp_path) == []


def test_signal_handlers_are_restored(tmp_path):
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    save_tree(tmp_path / "a.h5", {"x": np.ones(2)})
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = save_tree(tmp_path / "m.h5", {"x": np.ones(2)})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


def test_write_into_a_directory_path_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        save_tree(tmp_path, {"x": np.ones(2)})


def test_open_h5_names_the_file(tmp_path):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(FileFormatError, match="garbage.h5"):
        with open_h5(garbage):
            pass
    with pytest.raises(FileFormatError, match="garbage.h5"):
        load_tree(garbage)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        load_tree(tmp_path / "missing.h5")
    with pytest.raises(FileFormatError, match="directory"):
        load_tree(tmp_path)
    assert issubclass(FileFormatError, ValueError)


def test_describe_lists_datasets_with_dims_and_units(tmp_path):
    path = tmp_path / "d.h5"
    with atomic_h5(path) as file:
        write_attrs(file, {"kind": "Example"})
        write_coordinate(file, "t", [0.0, 1.0], long_name="time")
        write_dataset(file, "u", np.zeros(2), ("t",), long_name="speed", units="m/s")
    text = describe(path)
    assert "kind: Example" in text
    assert "u(t): float64 (2,)  speed [m/s]" in text


# --------------------------------------------------------- real processes, real signals
WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from pdediff.io import atomic_h5
    target, flag = sys.argv[1], sys.argv[2]
    with atomic_h5(target) as file:
        data = file.create_dataset("x", shape=(10**6,), dtype="f8")
        data[:1000] = 2.0
        file.flush()
        open(flag, "w").close()
        for _ in range(600):  # keep writing until the parent kills us
            data[:1000] += 1.0
            time.sleep(0.05)
    """
)


def start_writer(tmp_path: Path, target: Path) -> tuple[subprocess.Popen, Path]:
    flag = tmp_path / "writing"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": "1"}
    # The child gets the default SIGINT disposition: a shell starting this run in the
    # background (``cmd &``) passes SIGINT ignored, and Python keeps an inherited SIG_IGN.
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(flag)], env=env,
                             stderr=subprocess.PIPE,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not flag.exists():
        if child.poll() is not None:
            raise AssertionError(f"writer exited early: {child.stderr.read().decode()}")
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError("writer did not start writing within 60 s")
        time.sleep(0.02)
    return child, flag


def test_kill_9_mid_write_keeps_old_file_and_next_save_removes_the_temporary(tmp_path):
    target = save_tree(tmp_path / "out.h5", {"x": np.arange(4.0)})
    child, _ = start_writer(tmp_path, target)
    left = temporaries(tmp_path)
    assert len(left) == 1 and f".{child.pid}." in left[0].name
    assert stale_temporaries(target) == []  # the writer is alive: not stale
    child.kill()
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    # The old file is intact; the killed writer's temporary is still there ...
    np.testing.assert_array_equal(load_tree(target)["x"], np.arange(4.0))
    assert temporaries(tmp_path) == left
    assert stale_temporaries(target) == left
    # ... until the next write to the same path removes it.
    save_tree(target, {"x": np.ones(2)})
    assert temporaries(tmp_path) == []
    np.testing.assert_array_equal(load_tree(target)["x"], np.ones(2))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_mid_write_remove_the_temporary(tmp_path, signum):
    target = save_tree(tmp_path / "out.h5", {"x": np.arange(4.0)})
    child, _ = start_writer(tmp_path, target)
    assert len(temporaries(tmp_path)) == 1
    child.send_signal(signum)
    child.wait(timeout=30)
    if signum == signal.SIGTERM:
        # The handler re-delivers the signal: the child dies of SIGTERM as without it.
        assert child.returncode == -signal.SIGTERM
    else:
        assert child.returncode != 0
        assert b"KeyboardInterrupt" in child.stderr.read()
    assert temporaries(tmp_path) == []
    np.testing.assert_array_equal(load_tree(target)["x"], np.arange(4.0))


def test_temporaries_of_other_targets_are_left_alone(tmp_path):
    other = tmp_path / ".other.h5.somehost.1.abcd.pdediff-tmp"
    other.write_bytes(b"")
    save_tree(tmp_path / "out.h5", {"x": np.ones(1)})
    assert other.exists()


def test_legacy_temporaries_are_removed_once_old(tmp_path):
    target = tmp_path / "out.h5"
    old = tmp_path / ".out.h5.ab12_xyz.tmp"  # what earlier versions left behind
    fresh = tmp_path / ".out.h5.cd34_xyz.tmp"
    old.write_bytes(b"junk")
    fresh.write_bytes(b"junk")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    save_tree(target, {"x": np.ones(1)})
    assert not old.exists()
    assert fresh.exists()  # might still be written by a running old version


def test_temporaries_of_other_hosts_are_left_alone(tmp_path):
    foreign = tmp_path / ".out.h5.otherhost.1.abcd.pdediff-tmp"
    foreign.write_bytes(b"")
    save_tree(tmp_path / "out.h5", {"x": np.ones(1)})
    assert foreign.exists()


ATTR_VALUES = st.one_of(
    st.booleans(), st.integers(-2**62, 2**62), st.floats(allow_nan=False), st.text(max_size=8),
    st.none(), st.lists(st.floats(allow_nan=False), min_size=1, max_size=4),
    st.lists(st.text(max_size=4), min_size=1, max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=4), st.integers(-5, 5), max_size=3),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True), ATTR_VALUES, max_size=5))
def test_attributes_round_trip(tmp_path, attrs):
    with h5py.File(tmp_path / "h.h5", "w") as file:
        write_attrs(file, attrs)
        back = read_attrs(file)
    assert set(back) == set(attrs)
    for key, value in attrs.items():
        if isinstance(value, list) and value and not isinstance(value[0], str):
            np.testing.assert_array_equal(back[key], value)
        else:
            assert back[key] == value and type(back[key]) is type(value)


def test_long_target_names_still_get_a_temporary(tmp_path):
    target = tmp_path / ("n" * 240 + ".h5")
    save_tree(target, {"x": np.ones(1)})
    np.testing.assert_array_equal(load_tree(target)["x"], [1.0])
    assert temporaries(tmp_path) == []


def test_grid_coordinates_for_fields_on_a_grid(tmp_path):
    from pdediff import Grid
    from pdediff.io import axis_names, write_grid_coordinates

    grid = Grid([(0, 1), (-2, 2)], (4, 8), bc=["periodic", "noflux"])
    path = tmp_path / "g.h5"
    with atomic_h5(path) as file:
        names = write_grid_coordinates(file, grid)
        write_dataset(file, "u", np.ones(grid.shape), names, long_name="field")
    assert names == ("x", "y") and axis_names(5) == ("x0", "x1", "x2", "x3", "x4")
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert ds.u.dims == ("x", "y")
        np.testing.assert_array_equal(ds.y.values, grid.centers[1])
        assert ds.x.attrs["bc"] == "periodic"
        np.testing.assert_array_equal(ds.y.attrs["edges"], grid.edges[1])


# ------------------------------------------------------------ trees with named dimensions
def test_labelled_tree_opens_in_xarray_with_its_coordinates(tmp_path):
    from pdediff import Grid
    from pdediff.io import Labelled, read_tree

    from ._netcdf import open_every_group

    grid = Grid([(0, 1), (-2, 2)], (4, 3), bc=["periodic", "noflux"])
    t = np.array([0.0, 0.5, 1.0])
    p = np.random.default_rng(0).random((3, 4, 3))
    tree = {
        "t": Labelled(t, ("t",), long_name="time"),
        "kl": Labelled(t**2, ("t",), long_name="KL", units="nat"),
        "p": Labelled.on_grid(p, grid, leading={"t": None}, long_name="density"),
        "levels": {"cells": np.array([8, 16, 32]),
                   "error": Labelled([0.4, 0.1, 0.025], ("cells",), long_name="error")},
        "scalar": 2.0,
    }
    path = save_tree(tmp_path / "l.h5", tree)
    views = open_every_group(path)
    root, levels = views[""], views["levels"]
    assert root.kl.dims == ("t",) and root.p.dims == ("t", "x", "y")
    np.testing.assert_array_equal(root.t.values, t)
    np.testing.assert_array_equal(root.x.values, grid.centers[0])
    np.testing.assert_array_equal(root.y.values, grid.centers[1])
    assert root.x.attrs["bc"] == "periodic"
    np.testing.assert_array_equal(root.y.attrs["edges"], grid.edges[1])
    assert root.kl.attrs["units"] == "nat" and root.p.attrs["long_name"] == "density"
    assert root.attrs["scalar"] == 2.0
    # a sibling entry named after a dimension is that dimension's coordinate
    assert levels.error.dims == ("cells",)
    np.testing.assert_array_equal(levels.cells.values, [8, 16, 32])
    np.testing.assert_array_equal(root.p.values, p)
    # read back: the entries as plain arrays, nothing added
    back = load_tree(path)
    assert set(back) == {"t", "kl", "p", "levels", "scalar"}
    assert set(back["levels"]) == {"cells", "error"}
    for key in ("t", "kl", "p"):
        assert isinstance(back[key], np.ndarray)
    np.testing.assert_array_equal(back["p"], p)
    np.testing.assert_array_equal(back["levels"]["error"], [0.4, 0.1, 0.025])
    with h5py.File(path) as file:
        assert read_tree(file["levels"])["cells"].dtype == np.int64
    # labelled results cross process boundaries (--jobs, Dask) intact
    again = pickle.loads(pickle.dumps(tree["p"]))
    assert again.dims == ("t", "x", "y") and again.coords["x"].attrs["bc"] == "periodic"
    np.testing.assert_array_equal(again.values, p)


def test_unlabelled_arrays_get_named_index_dimensions(tmp_path):
    from ._netcdf import open_every_group

    tree = {"a": np.arange(6.0).reshape(2, 3), "b": np.zeros(0), "c": np.array(1.5),
            "nested": {"a": np.arange(4)}}
    path = save_tree(tmp_path / "u.h5", tree)
    views = open_every_group(path)
    assert views[""].a.dims == ("a_index0", "a_index1")
    assert dict(views[""].sizes) == {"a_index0": 2, "a_index1": 3, "b_index0": 0}
    assert views[""].a.attrs["long_name"] == "a" and "units" not in views[""].a.attrs
    assert views[""].c.dims == ()
    assert views["nested"].a.dims == ("a_index0",)
    assert set(views[""].coords) == set()  # index dimensions carry no values
    back = load_tree(path)
    assert set(back) == {"a", "b", "c", "nested"} and set(back["nested"]) == {"a"}
    np.testing.assert_array_equal(back["a"], tree["a"])
    assert back["b"].shape == (0,) and back["c"] == 1.5


def test_files_of_earlier_versions_still_read(tmp_path):
    with h5py.File(tmp_path / "old.h5", "w") as file:  # bare datasets, no scales
        file.create_dataset("x", data=np.arange(3.0))
        file.create_group("g").create_dataset("y", data=np.eye(2))
        file.attrs["n"] = 3
    back = load_tree(tmp_path / "old.h5")
    assert set(back) == {"x", "g", "n"}
    np.testing.assert_array_equal(back["g"]["y"], np.eye(2))


def test_tree_dimension_conflicts_name_the_entry(tmp_path):
    from pdediff.io import Labelled, write_tree

    def write(tree):
        with h5py.File(tmp_path / "c.h5", "w") as file:
            write_tree(file, tree)

    with pytest.raises(ValueError, match="coordinate 't' of 'b' differs"):
        write({"a": Labelled([1.0, 2.0], ("t",), {"t": [0.0, 1.0]}),
               "b": Labelled([1.0, 2.0], ("t",), {"t": [0.0, 2.0]})})
    with pytest.raises(ValueError, match="dimension 'n' has length 2 elsewhere but 3 in"):
        write({"a": Labelled([1.0, 2.0], ("n",)), "b": Labelled([1.0, 2.0, 3.0], ("n",))})
    with pytest.raises(ValueError, match="'t' names a dimension of another entry"):
        write({"t": np.zeros((2, 2)), "a": Labelled([1.0, 2.0], ("t",))})
    with pytest.raises(ValueError, match="coordinate 'x' of 'a' collides with the entry 'x'"):
        write({"x": "text", "a": Labelled([1.0, 2.0], ("x",), {"x": [0.0, 1.0]})})
    with pytest.raises(ValueError, match="dims: coordinate 't' has length 2"):
        write({"t": np.zeros(2), "a": Labelled([1.0, 2.0, 3.0], ("t",))})
    with pytest.raises(ValueError, match="dims: expected 2 distinct names"):
        Labelled(np.zeros((2, 2)), ("x",))
    with pytest.raises(ValueError, match="coords: 'y' is not one of the dims"):
        Labelled(np.zeros(2), ("x",), {"y": [1.0, 2.0]})
    with pytest.raises(ValueError, match="coords: 'x' has shape"):
        Labelled(np.zeros(2), ("x",), {"x": [1.0, 2.0, 3.0]})
    with pytest.raises(TypeError, match="units"):
        Labelled(np.zeros(2), ("x",), units=1)


def test_describe_shows_dimensions_of_a_tree(tmp_path):
    from pdediff.io import Labelled

    path = save_tree(tmp_path / "d.h5", {"t": Labelled([0.0, 1.0], ("t",), long_name="time"),
                                         "u": Labelled([3.0, 4.0], ("t",), long_name="speed",
                                                       units="m/s"),
                                         "raw": np.ones((2, 2))})
    text = describe(path)
    assert "u(t): float64 (2,)  speed [m/s]" in text
    assert "raw(raw_index0, raw_index1): float64 (2, 2)  raw" in text
    assert "raw_index0: dimension of length 2" in text


_ARRAYS = st.integers(0, 2).flatmap(lambda ndim: st.lists(
    st.integers(0, 3), min_size=ndim, max_size=ndim).flatmap(lambda shape: st.builds(
        lambda seed, kind: (np.random.default_rng(seed).normal(size=shape) if kind == "f"
                            else np.random.default_rng(seed).integers(-9, 9, size=shape)),
        st.integers(0, 2**16), st.sampled_from("fi"))))
_TREES = st.recursive(
    st.dictionaries(st.from_regex(r"[a-z][a-z0-9]{0,4}", fullmatch=True), _ARRAYS, max_size=4),
    lambda children: st.dictionaries(st.from_regex(r"[a-z][a-z0-9]{0,4}", fullmatch=True),
                                     children, max_size=3),
    max_leaves=8)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_TREES)
def test_any_tree_of_arrays_round_trips_without_phony_dims(tmp_path, tree):
    from ._netcdf import open_every_group

    path = save_tree(tmp_path / "h.h5", tree)
    open_every_group(path)  # no phony_dim, every variable has a long_name

    def same(a, b):
        assert set(a) == set(b)
        for key, value in a.items():
            if isinstance(value, dict):
                same(value, b[key])
            else:
                assert b[key].dtype == value.dtype and b[key].shape == value.shape
                assert b[key].tobytes() == value.tobytes()

    same(tree, load_tree(path))
