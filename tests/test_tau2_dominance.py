"""The accuracy a dominating tau2 point needs is the first whose Wilson interval clears the row's."""
from __future__ import annotations

import json

from benchmarks.stats import wilson
from benchmarks.tau2_dominance import Tau2DominanceConfig, needed_accuracy, run


def test_needed_accuracy_is_the_smallest_count_whose_interval_clears():
    for n, above in ((80, 83.2), (80, 60.0), (168, 74.0), (20, 50.0)):
        need = needed_accuracy(n, above)
        k = round(need * n / 100)
        assert 100 * wilson(k, n).low > above >= 100 * wilson(k - 1, n).low
    assert needed_accuracy(10, 99.0) is None  # 10/10 has a low end near 72%


def test_rows_say_which_adviser_points_dominate(tmp_path):
    table1 = {"rows": [{"benchmark": "tau2", "setting": "all_tools", "model": "M", "n": 80, "acc": 60.0,
                        "acc_lo": 49.0, "acc_hi": 70.0, "cost_ratio": 0.9, "cost_ratio_lo": 0.8},
                       {"benchmark": "frames", "setting": "all_tools", "model": "M", "n": 168, "acc": 1.0}]}
    frontier = {"rows": [{"policy": "cheap and better", "accuracy": 85.0, "acc_lo": 75.5, "acc_hi": 91.0,
                          "cost_ratio": 0.2, "ratio_hi": 0.3},
                         {"policy": "cheap and worse", "accuracy": 50.0, "acc_lo": 40.0, "acc_hi": 60.0,
                          "cost_ratio": 0.1, "ratio_hi": 0.12}]}
    (tmp_path / "t.json").write_text(json.dumps(table1))
    (tmp_path / "f.json").write_text(json.dumps(frontier))
    [row] = run(Tau2DominanceConfig(table1_from=str(tmp_path / "t.json"), frontier_from=str(tmp_path / "f.json")))
    assert row["dominated_by_point"] == ["cheap and better"] and row["dominated_apart"] == ["cheap and better"]
    assert row["best_cheaper_policy"] == "cheap and better"
    assert row["needed_accuracy"] == needed_accuracy(80, 70.0)
