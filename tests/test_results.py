import h5py
import numpy as np
import pytest
import xarray as xr

import pdediff
from pdediff.fokker_planck import solve_forward
from pdediff.io import FileFormatError
from pdediff.results import ParticleSolution, Solution, load, load_particles


def make_solution(shape=(6, 5), bounds=((-3, 3), (-2, 2)), bc=("noflux", "periodic"), nt=3):
    grid = pdediff.Grid(list(bounds), shape, bc=list(bc))
    rng = np.random.default_rng(2)
    p = np.stack([grid.normalize(rng.random(grid.shape)) for _ in range(nt)])
    return Solution(t=np.linspace(0.0, 0.5, nt), p=p, grid=grid, process=pdediff.OU(rate=2.0),
                    metadata={"direction": "forward", "method": "auto", "n_steps": 7, "eps": None,
                              "switch": [0.1, 0.2], "tolerances": {"rtol": 1e-4}})


def make_particles(log_q=True):
    rng = np.random.default_rng(3)
    return ParticleSolution(t=np.array([1.0, 0.5, 0.1]), x=rng.normal(size=(3, 7, 2)),
                            process=pdediff.VP(), log_q=rng.normal(size=(3, 7)) if log_q else None,
                            metadata={"method": "ode", "eps": 0.0, "seed_entropy": "123"})


def test_save_load_round_trip_is_bit_for_bit(tmp_path):
    grid = pdediff.Grid([(-3, 3), (-3, 3)], (12, 10), bc=["noflux", "periodic"])
    rng = np.random.default_rng(1)
    p0 = grid.normalize(rng.random(grid.shape))
    solution = solve_forward(p0, grid, pdediff.HeatFlow(0.3), [0.0, 0.01, 0.02])
    path = solution.save(tmp_path / "s.h5")
    back = pdediff.load(path)
    assert back.grid == grid
    assert back.process == solution.process
    assert back.t.tobytes() == solution.t.tobytes()
    assert back.p.tobytes() == solution.p.tobytes()
    assert back.metadata["n_steps"] == solution.metadata["n_steps"]
    assert back.metadata["direction"] == "forward"
    np.testing.assert_array_equal(back.at(0.01), solution.p[1])


def test_metadata_round_trip(tmp_path):
    solution = make_solution()
    back = load(solution.save(tmp_path / "s.h5"))
    assert back.metadata["eps"] is None
    assert back.metadata["tolerances"] == {"rtol": 1e-4}
    np.testing.assert_array_equal(back.metadata["switch"], [0.1, 0.2])


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_saved_solution_opens_in_xarray_with_named_dims(tmp_path, ndim):
    shape = (5, 4, 3)[:ndim]
    bounds = ((-1, 1), (0, 2), (-3, 3))[:ndim]
    solution = make_solution(shape, bounds, ("noflux",) * ndim)
    path = solution.save(tmp_path / "s.h5")
    names = ("x", "y", "z")[:ndim]
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert ds.p.dims == ("t", *names)
        assert not any(str(d).startswith("phony_dim") for d in ds.dims)
        assert set(ds.coords) == {"t", *names}
        np.testing.assert_array_equal(ds.t.values, solution.t)
        for d, name in enumerate(names):
            np.testing.assert_array_equal(ds[name].values, solution.grid.centers[d])
            assert ds[name].attrs["units"] == "1" and ds[name].attrs["long_name"]
        np.testing.assert_array_equal(ds.p.values, solution.p)
        attrs = ds.p.attrs
        assert attrs["cell_method"] == "cell average"
        assert attrs["units"] == "1" and "density" in attrs["long_name"]
        np.testing.assert_array_equal(np.reshape(attrs["bounds"], (ndim, 2)), solution.grid.bounds)
        assert ds.attrs["kind"] == "Solution" and ds.attrs["process_name"] == "ou"
        # to_xarray builds the same dataset in memory (netCDF reads size-1 attribute
        # arrays back as scalars, so the attributes are compared by name).
        memory = solution.to_xarray()
        xr.testing.assert_equal(memory, ds.load())
        assert set(memory.attrs) == set(ds.attrs)
        for name in ("p", "t", *names):
            assert set(memory[name].attrs) == set(ds[name].attrs)
    memory = solution.to_xarray()
    assert memory.p.dims == ("t", *names)
    np.testing.assert_array_equal(memory.p.sel(t=solution.t[1]).values, solution.p[1])


def test_particles_round_trip_and_xarray(tmp_path):
    particles = make_particles()
    path = particles.save(tmp_path / "q.h5")
    back = load_particles(path)
    assert back.x.tobytes() == particles.x.tobytes()
    assert back.log_q.tobytes() == particles.log_q.tobytes()
    assert back.process == particles.process and back.metadata == particles.metadata
    assert isinstance(load(path), ParticleSolution)  # load reads either kind
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert ds.x.dims == ("t", "particle", "component")
        assert ds.log_q.dims == ("t", "particle")
        assert not any(str(d).startswith("phony_dim") for d in ds.dims)
        np.testing.assert_array_equal(ds.particle.values, np.arange(7))
        np.testing.assert_array_equal(ds.component.values, [0, 1])
        np.testing.assert_array_equal(ds.x.values, particles.x)
    memory = particles.to_xarray()
    assert memory.x.dims == ("t", "particle", "component")
    without = make_particles(log_q=False)
    assert load_particles(without.save(tmp_path / "n.h5")).log_q is None
    assert "log_q" not in without.to_xarray()


def test_files_honour_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = make_solution().save(tmp_path / "s.h5")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_load_reads_files_of_the_previous_layout(tmp_path):
    # pdediff 0.2 wrote t and p without dimension scales and encoded JSON privately.
    solution = make_solution()
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as file:
        file.attrs["kind"] = "Solution"
        file.create_dataset("t", data=solution.t)
        file.create_dataset("p", data=solution.p)
        grid = file.create_group("grid")
        grid.attrs["bounds"] = np.asarray(solution.grid.bounds)
        grid.attrs["shape"] = list(solution.grid.shape)
        grid.attrs["bc"] = '__json__["noflux", "periodic"]'
        process = file.create_group("process")
        for key, value in solution.process.to_dict().items():
            process.attrs[key] = value
        meta = file.create_group("metadata")
        meta.attrs["eps"] = "__none__"
        meta.attrs["tolerances"] = '__json__{"rtol": 0.0001}'
    back = load(path)
    assert back.grid == solution.grid
    assert back.p.tobytes() == solution.p.tobytes()
    assert back.metadata == {"eps": None, "tolerances": {"rtol": 1e-4}}


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as file:
        file["x"] = 1
    with pytest.raises(FileFormatError, match="other.h5"):
        pdediff.load(path)
    with pytest.raises(ValueError):  # FileFormatError is a ValueError
        pdediff.load(path)


def test_load_rejects_garbage_and_truncated_files(tmp_path):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(np.random.default_rng(0).bytes(10_000))
    with pytest.raises(FileFormatError, match="garbage.h5"):
        load(garbage)
    good = make_solution(shape=(40, 30)).save(tmp_path / "good.h5")
    data = good.read_bytes()
    for fraction in (0.1, 0.5, 0.9):
        cut = tmp_path / f"cut{fraction}.h5"
        cut.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(FileFormatError, match=cut.name):
            load(cut)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.h5")


def test_load_checks_shapes_against_the_grid(tmp_path):
    path = make_solution().save(tmp_path / "s.h5")
    with h5py.File(path, "r+") as file:
        del file["p"]
        file.create_dataset("p", data=np.ones((3, 6, 4)))
    with pytest.raises(FileFormatError, match=r"s.h5.*'p' has shape \(3, 6, 4\), expected \(3, 6, 5\)"):
        load(path)
    path = make_solution().save(tmp_path / "u.h5")
    with h5py.File(path, "r+") as file:
        file["grid"].attrs["shape"] = [6, 6]
    with pytest.raises(FileFormatError, match="u.h5"):
        load(path)
    path = make_particles().save(tmp_path / "q.h5")
    with h5py.File(path, "r+") as file:
        del file["log_q"]
        file.create_dataset("log_q", data=np.ones((3, 6)))
    with pytest.raises(FileFormatError, match=r"q.h5.*'log_q'"):
        load_particles(path)


def test_load_particles_refuses_a_solution(tmp_path):
    path = make_solution().save(tmp_path / "s.h5")
    with pytest.raises(FileFormatError, match="not a ParticleSolution"):
        load_particles(path)


def test_construction_checks_shapes_and_types():
    grid = pdediff.Grid([(0, 1)], 4)
    with pytest.raises(ValueError, match=r"^p: expected shape \(2, 4\)"):
        Solution(t=[0.0, 1.0], p=np.ones((2, 5)), grid=grid, process=pdediff.OU())
    with pytest.raises(ValueError, match="^p: expected a rectangular"):
        Solution(t=[0.0, 1.0], p=[[1.0, 1.0, 1.0, 1.0], [1.0]], grid=grid, process=pdediff.OU())
    with pytest.raises(TypeError, match="^t: "):
        Solution(t=["a"], p=np.ones((1, 4)), grid=grid, process=pdediff.OU())
    with pytest.raises(TypeError, match="^process"):
        Solution(t=[0.0], p=np.ones((1, 4)), grid=grid, process="ou")
    with pytest.raises(TypeError, match="^grid"):
        Solution(t=[0.0], p=np.ones((1, 4)), grid=None, process=pdediff.OU())
    with pytest.raises(ValueError, match=r"^x: expected shape \(2, N, ndim\)"):
        ParticleSolution(t=[1.0, 0.5], x=np.ones((3, 4, 1)), process=pdediff.OU())
    with pytest.raises(ValueError, match="^log_q"):
        ParticleSolution(t=[1.0], x=np.ones((1, 4, 1)), process=pdediff.OU(), log_q=np.ones((1, 3)))
    with pytest.raises(TypeError, match="^t: "):
        make_solution().at("0.5")
