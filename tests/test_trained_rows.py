"""Trained rows: a short GRPO run (group-relative advantages over 8 rollouts per task) makes the
MiniLM router earn more on held-out FRAMES tasks than its untrained start, at fixed seeds.

The policy is scored as it acts in training (sampled, torch seeded): the untrained start is a near
uniform policy; a greedy untrained MLP is just one arbitrary fixed menu sequence."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import orchestra_env  # noqa: F401
from orchestra_env.wrappers import CostLatencyPenalty

from agents.routers import RouterConfig, make_router, train_router
from agents.routing_view import RoutingView, mean_return, routing_policy

torch = pytest.importorskip("torch")
N_HELD_OUT = 40
MARGIN = 0.1  # reward units; untrained ~ a random menu policy


def _view(split: str) -> RoutingView:
    return RoutingView(CostLatencyPenalty.preset(gym.make("Orchestra/FRAMES-v0", split=split, max_turns=4),
                                                 "cost-first"))


def test_preference_reward_needs_a_known_name():
    with pytest.raises(ValueError, match="reward"):
        RouterConfig(reward="dollars")


def test_short_grpo_run_beats_its_untrained_start_on_held_out_tasks():
    torch.set_num_threads(1)
    config = RouterConfig(seed=0, updates=10**9, max_env_steps=600, encoder="frozen")
    envs = [_view("train") for _ in range(config.group_size)]
    test = _view("test")
    untrained = make_router(envs[0], config)  # same seed: the exact start of the run below
    torch.manual_seed(123)
    before = mean_return(test, routing_policy(untrained, deterministic=False, view=test), N_HELD_OUT, seed=0)
    router, history = train_router(envs, config)
    torch.manual_seed(123)
    after = mean_return(test, routing_policy(router, deterministic=False, view=test), N_HELD_OUT, seed=0)
    assert history[-1]["env_steps"] >= 600
    updates = [h for h in history if "loss/policy" in h]  # groups with equal rewards are skipped
    assert len(updates) >= 10 and all(np.isfinite(h["loss/policy"]) for h in updates)
    assert after >= before + MARGIN, (before, after)
