"""A validation slice stays held out: training draws only from ``task_pool``, scoring only from its complement."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import orchestra_env  # noqa: F401 - registers the ids
from agents.baselines import evaluate, evaluation_resets, make_baseline
from agents.run import task_pool, task_resets
from benchmarks.train_llm_policy import TrainLLMConfig, grpo_config, sft_config


def test_task_resets_draw_only_from_the_pool_and_keep_groups_on_one_task():
    pool = (3, 17, 40)
    resets, groups = task_resets(np.random.default_rng(0), pool, n_groups=50, group_size=4)
    tasks = [r["options"]["task_index"] for r in resets]
    assert set(tasks) == set(pool)  # every pool task drawn in 50 groups, nothing else
    for g in set(groups):
        members = [r for r, k in zip(resets, groups) if k == g]
        assert len({m["options"]["task_index"] for m in members}) == 1
        assert len({m["seed"] for m in members}) == 1


def test_a_whole_split_pool_draws_the_same_tasks_as_before_pools_existed():
    # range(n) must reproduce the earlier rng.integers(n) stream, so recorded runs stay comparable
    resets, _ = task_resets(np.random.default_rng(5), range(656), n_groups=6, group_size=1)
    rng = np.random.default_rng(5)
    expected = []
    for _ in range(6):
        rng.integers(2**31)
        expected.append(int(rng.integers(656)))
    assert [r["options"]["task_index"] for r in resets] == expected


def test_task_pool_is_checked_against_the_split():
    env = gym.make("Orchestra/FRAMES-v0", split="test")
    n = len(env.unwrapped.tasks)
    assert list(task_pool(None, env)) == list(range(n))
    assert task_pool([2, 1], env) == (2, 1)
    with pytest.raises(ValueError, match="task_pool"):
        task_pool([0, n], env)
    with pytest.raises(ValueError, match="task_pool"):
        task_pool([], env)


def test_evaluate_scores_only_the_given_tasks():
    env = gym.make("Orchestra/FRAMES-v0", split="train")
    chosen = (5, 9, 100)
    seen = []
    original = env.reset

    def spy(*, seed=None, options=None):
        seen.append(options["task_index"])
        return original(seed=seed, options=options)

    env.reset = spy
    evaluate(make_baseline("cheapest"), env, n_tasks=6, seed=0, tasks=chosen)
    assert sorted(seen) == sorted(chosen * 2)


def test_the_validation_slice_is_disjoint_from_what_sft_and_grpo_draw():
    config = TrainLLMConfig(select_on="val")
    fit, split, val = config.slices()
    assert split == "train" and fit and val
    assert not set(fit) & set(val)
    assert sft_config(config, 0, "").task_pool == fit and grpo_config(config, 0, "").task_pool == fit
    assert len(fit) + len(val) == len(gym.make("Orchestra/FRAMES-v0", split="train").unwrapped.tasks)
    held = {r["options"]["task_index"] for r in evaluation_resets(val, config.eval_tasks, config.seed)}
    assert held <= set(val) and len(held) == min(config.eval_tasks, len(val))
    assert TrainLLMConfig().slices() == (None, "test", None)
    with pytest.raises(ValueError, match="select_on"):
        TrainLLMConfig(select_on="dev")
