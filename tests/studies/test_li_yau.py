import h5py

from pdediff.studies import run_study


def test_quick_study_li_yau_holds_exactly_and_on_the_grid(tmp_path):
    summary = run_study("li_yau", quick=True, out=tmp_path, progress=False)
    checks = {check.name: check for check in summary["checks"]}
    assert checks["li_yau_exact"].passed, summary["table"]
    assert checks["li_yau_grid"].passed, summary["table"]
    # Point masses attain the bound: the exact margin is sharp (relative margin 0).
    assert min(r["exact_min"] for r in summary["rows"] if r["case"].endswith("points")) < 1e-8
    with h5py.File(tmp_path / "li_yau.h5") as file:
        assert set(file["checks"]) == {"li_yau_exact", "li_yau_grid"}
        node = file["results/1d/heat/points"]
        assert node["exact_li_yau_min"].shape == node["t"].shape
    assert (tmp_path / "figures" / "li_yau_min_margin.png").exists()
