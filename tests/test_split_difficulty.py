"""The split comparison pairs cells by (setting, model) and refuses runs on the wrong splits."""
from __future__ import annotations

import json

import pytest

from benchmarks.split_difficulty import SplitConfig, markdown, run


def _write(path, split, accs, n):
    rows = [{"benchmark": "frames", "setting": "no_tools", "model": m, "acc": a, "n": n, "published_acc": 50.0}
            for m, a in accs.items()] + [{"benchmark": "tau2", "setting": "no_tools", "model": "A", "acc": 1.0, "n": 1}]
    path.write_text(json.dumps({"record": {"config": {"split": split}, "git_commit": ""}, "rows": rows}))
    return str(path)


def test_cells_are_paired_and_differences_have_intervals(tmp_path):
    train = _write(tmp_path / "a.json", "train", {"A": 60.0, "B": 30.0}, 600)
    test = _write(tmp_path / "b.json", "test", {"A": 50.0, "B": 30.0, "C": 10.0}, 150)
    rows = {r["model"]: r for r in run(SplitConfig(train_from=train, test_from=test))}
    assert set(rows) == {"A", "B"}  # only cells in both runs, only the benchmark asked for
    assert rows["A"]["diff"] == pytest.approx(10.0) and rows["A"]["diff_lo"] > 0  # 10 points at these n: real
    assert rows["B"]["diff_lo"] < 0 < rows["B"]["diff_hi"]
    assert "1 of 2 cells' intervals exclude zero" in markdown(list(rows.values()))


def test_runs_on_the_wrong_splits_are_refused(tmp_path):
    a = _write(tmp_path / "a.json", "test", {"A": 60.0}, 100)
    with pytest.raises(ValueError, match="train-split run"):
        run(SplitConfig(train_from=a, test_from=a))
