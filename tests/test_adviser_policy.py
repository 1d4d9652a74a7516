"""Adviser policies on tau2: they ask, vote and act through the env's own tools."""
from __future__ import annotations

import gymnasium as gym
import pytest

import orchestra_env  # noqa: F401 - registers the ids
from agents.adviser_policy import AdviserPolicy
from orchestra_env.experts.simulated import read_advice
from agents.baselines import evaluate

STEP = 'Expert advice (expert-2): Next step: {"tool": "get_order_details", "arguments": {"order_id": "#W1"}}'
OTHER = 'Expert advice (expert-3): Next step: {"tool": "get_order_details", "arguments": {"order_id": "#W1X"}}'
UNSURE = "Expert advice (expert-3): I am not sure what the next step is; check the policy."


@pytest.fixture(scope="module")
def env():
    env = gym.make("Orchestra/Tau2-retail-v0", split="test")
    yield env
    env.close()


def test_read_advice_reads_a_step_and_nothing_else():
    assert read_advice(STEP) == {"tool": "get_order_details", "arguments": {"order_id": "#W1"}}
    assert read_advice(UNSURE) is None and read_advice('Next step: {"tool": ') is None


def _drive(policy, outputs):
    """The actions the policy takes when each call's output is the next of ``outputs``."""
    actions = [policy.act({"output": ""}, {})]
    for out in outputs:
        actions.append(policy.act({"output": out}, {}))
    return actions


def test_vote_acts_on_agreement_and_asks_the_fallback_otherwise(env):
    obs, info = env.reset(seed=0)
    vote = AdviserPolicy(("expert-3", "expert-2"), fallback="expert-1")
    vote.begin(env, obs, info)
    agree = _drive(vote, [STEP, STEP])
    assert [a["arguments"].get("expert") for a in agree[:2]] == ["expert-3", "expert-2"]
    assert agree[2] == {"tool": "get_order_details", "arguments": {"order_id": "#W1"}}
    vote.begin(env, obs, info)
    disagree = _drive(vote, [OTHER, STEP, STEP])
    assert disagree[2]["arguments"]["expert"] == "expert-1" and disagree[3]["tool"] == "get_order_details"


def test_cheap_first_asks_the_next_adviser_only_when_unsure_and_never_redoes_a_step(env):
    obs, info = env.reset(seed=0)
    policy = AdviserPolicy(("expert-3", "expert-2", "expert-1"))
    policy.begin(env, obs, info)
    actions = _drive(policy, [UNSURE, STEP])
    assert [a["arguments"].get("expert") for a in actions[:2]] == ["expert-3", "expert-2"]
    assert actions[2]["tool"] == "get_order_details"
    again = _drive(policy, [STEP])  # advised the same step again: the work is done, tell the user
    assert again[1]["tool"] == "respond"


def test_misconfiguration_fails_early(env):
    obs, info = env.reset(seed=0)
    with pytest.raises(ValueError, match="two advisers"):
        AdviserPolicy(("expert-1",), fallback="expert-2")
    with pytest.raises(ValueError, match="not in the env's catalogue"):
        AdviserPolicy(("expert-9",)).begin(env, obs, info)


def test_asking_gpt5_beats_asking_a_weak_model_on_held_out_tasks(env):
    """In the calibrated world GPT-5's advice is right far more often than Qwen3-32B's, and a
    policy that follows it completes more retail test tasks (fixed tasks and seed)."""
    strong = evaluate(AdviserPolicy(("expert-1",)), env, n_tasks=8, seed=0)
    weak = evaluate(AdviserPolicy(("expert-3",)), env, n_tasks=8, seed=0)
    assert strong["accuracy"] >= weak["accuracy"] + 0.25
    assert strong["mean_cost_usd"] > weak["mean_cost_usd"]
