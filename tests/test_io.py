import numpy as np
import pytest

from pdediff.io import atomic_h5, load_tree, save_tree


def test_tree_round_trip(tmp_path):
    tree = {
        "a": np.arange(5.0),
        "group": {"b": np.eye(2), "label": "x", "flag": True},
        "scalar": 3.5,
        "nested": {"deep": {"c": np.array([1, 2, 3])}},
        "meta": {"list": ["u", "v"]},
    }
    path = save_tree(tmp_path / "t.h5", tree)
    back = load_tree(path)
    np.testing.assert_array_equal(back["a"], tree["a"])
    np.testing.assert_array_equal(back["group"]["b"], np.eye(2))
    assert back["group"]["label"] == "x"
    assert back["scalar"] == 3.5
    np.testing.assert_array_equal(back["nested"]["deep"]["c"], [1, 2, 3])


def test_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.h5"
    with pytest.raises(KeyboardInterrupt):
        with atomic_h5(target) as file:
            file.create_dataset("x", data=np.zeros(10))
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
