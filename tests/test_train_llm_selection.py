"""The validation table picks the run whose SFT+GRPO policy scores highest and refuses a test-split run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.train_llm_policy import TrainLLMConfig
from benchmarks.train_llm_selection import SelectionConfig, run


def _run(tmp_path, name, lr, grpo_rewards, select_on="val", sft_shift=0.0):
    rows = []
    sft = [0.1 + sft_shift, 0.2 + sft_shift, 0.3 + sft_shift]
    for seed, extra in zip((0, 1), grpo_rewards):
        for policy, rewards in (("sft", sft), ("sft+grpo", [r + extra for r in sft])):
            rows.append({"policy": policy, "seed": seed, "n": 3, "reward": sum(rewards) / 3, "accuracy": 0.5,
                         "cost_usd": 0.01, "valid_share": 1.0, "episode_rewards": rewards,
                         "pooled_lo": 0.0, "pooled_hi": 1.0})
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"record": {"git_commit": "abc", "git_dirty": False,
                                           "config": {"select_on": select_on, "grpo_lr": lr, "grpo_kl": 0.0,
                                                      "grpo_updates": 30, "grpo_tasks": 2, "sft_epochs": 10.0}},
                                "rows": rows}))
    return str(path)


def test_the_best_final_policy_is_chosen_not_the_largest_gain(tmp_path):
    """A run whose SFT start is weaker gains more but ends lower: the one that ends higher is chosen."""
    weak = _run(tmp_path, "weak_start", 1e-3, (0.25, 0.25), sft_shift=-0.2)
    strong = _run(tmp_path, "strong_start", 5e-4, (0.1, 0.1))
    rows = {r["run"]: r for r in run(SelectionConfig(runs=[weak, strong]))}
    assert rows["weak_start"]["gain"] > rows["strong_start"]["gain"]
    assert rows["strong_start"]["chosen"] and not rows["weak_start"]["chosen"]


def test_the_largest_mean_gain_is_chosen_at_one_sft_start(tmp_path):
    runs = [_run(tmp_path, "small", 1e-3, (0.02, 0.04)), _run(tmp_path, "large", 5e-4, (0.2, 0.1))]
    rows = {r["run"]: r for r in run(SelectionConfig(runs=runs))}
    assert rows["large"]["chosen"] and not rows["small"]["chosen"]
    assert rows["large"]["gain"] == pytest.approx(0.15) and rows["small"]["gain"] == pytest.approx(0.03)


def test_a_run_scored_on_the_test_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a validation run"):
        run(SelectionConfig(runs=[_run(tmp_path, "t", 1e-3, (0.1, 0.1), select_on="test")]))


def test_the_shipped_defaults_are_the_recorded_chosen_run():
    """``TrainLLMConfig``'s GRPO and SFT settings are the validation run the recorded table chose."""
    table = json.loads((Path(__file__).resolve().parent.parent / "results" / "train_llm_selection.json").read_text())
    [chosen] = [r for r in table["rows"] if r["chosen"]]
    default = TrainLLMConfig()
    assert (default.grpo_lr, default.grpo_kl, default.grpo_updates, default.grpo_tasks, default.sft_epochs) == (
        chosen["grpo_lr"], chosen["grpo_kl"], chosen["grpo_updates"], chosen["grpo_tasks"], chosen["sft_epochs"])
