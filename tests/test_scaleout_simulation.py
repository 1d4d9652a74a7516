"""The discrete-event model of benchmarks/rollout_scaling.py against answers known by hand."""
from __future__ import annotations

import pytest

from benchmarks.rollout_scaling import simulate


def test_one_slot_serialises_the_workers_and_no_limit_lets_them_overlap():
    episodes = [[("answer-1", 1.0)]]  # one call of 1 s per episode
    tight = simulate(episodes, workers=4, limit=1, policy_step_s=0.0, n_episodes=400)
    free = simulate(episodes, workers=4, limit=None, policy_step_s=0.0, n_episodes=400)
    assert tight["episodes_per_s"] == pytest.approx(1.0, rel=0.02)
    assert free["episodes_per_s"] == pytest.approx(4.0, rel=0.02)
    assert tight["busiest_endpoint_utilisation"] == pytest.approx(1.0, rel=0.02)
    assert tight["mean_queue_s_per_call"] == pytest.approx(3.0, rel=0.05)  # behind 3 others


def test_policy_time_and_local_tools_add_without_queueing():
    episodes = [[(None, 0.5), ("answer-1", 1.0)]]  # a local tool, then a model call
    r = simulate(episodes, workers=2, limit=None, policy_step_s=0.25, n_episodes=200)
    assert r["episodes_per_s"] == pytest.approx(2 / (2 * 0.25 + 0.5 + 1.0), rel=0.02)
    assert r["mean_queue_s_per_call"] == 0.0
