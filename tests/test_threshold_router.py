"""The confidence-threshold router routes as specified (constructed cases), and learns labels."""
import gymnasium as gym
import numpy as np
import pytest

import orchestra_env  # noqa: F401
from agents.baselines import evaluate
from agents.threshold_router import (
    NO_MODEL, LabelledTask, ThresholdRouter, ThresholdRouterPolicy, decide, label_tasks,
)


def test_decide_routes_only_when_confident():
    p = {"answer-4": 0.81, "answer-1": 0.19}
    assert decide(p, 0.8, "answer-1") == ("answer-4", 0.81)
    assert decide(p, 0.82, "answer-1") == ("answer-1", 0.81)  # below threshold: fallback
    assert decide({"answer-4": 0.8, NO_MODEL: 0.2}, 0.8, "answer-1")[0] == "answer-4"  # >= is enough
    # a confident "no model is right" falls back too
    assert decide({NO_MODEL: 0.95, "answer-4": 0.05}, 0.8, "answer-1")[0] == "answer-1"


def _embed(text: str) -> np.ndarray:
    # two separable clusters of task texts
    return np.array([1.0, 0.0]) if "cheap" in text else np.array([0.0, 1.0])


def test_fit_learns_separable_labels_and_threshold_sweeps_between_them():
    tasks = [LabelledTask(f"c{i}", f"cheap question {i}", {}, "answer-4") for i in range(20)]
    tasks += [LabelledTask(f"h{i}", f"hard question {i}", {}, NO_MODEL) for i in range(20)]
    router = ThresholdRouter.fit(tasks, _embed, c=10.0)
    p = router.probabilities("cheap question x")
    assert p["answer-4"] > 0.8
    assert router.route("cheap question x", 0.8, "answer-1")[0] == "answer-4"
    assert router.route("hard question x", 0.8, "answer-1")[0] == "answer-1"
    assert router.route("cheap question x", 0.9999, "answer-1")[0] == "answer-1"


def test_fit_refuses_a_single_label():
    tasks = [LabelledTask(str(i), "q", {}, "answer-4") for i in range(3)]
    with pytest.raises(ValueError, match="two distinct labels"):
        ThresholdRouter.fit(tasks, _embed)


def test_labels_are_the_cheapest_correct_alias():
    env = gym.make("Orchestra/FRAMES-v0", split="train", charge_orchestrator=False)
    aliases = ["answer-4", "answer-3", "answer-2", "answer-1"]  # cheapest first
    labelled = label_tasks(env, aliases, n_tasks=12)
    assert len(labelled) == 12
    for t in labelled:
        right = [a for a in aliases if t.correct[a]]
        assert t.label == (right[0] if right else NO_MODEL)
    # the pool is not all-or-nothing: some tasks are solved by a cheap model, some by none/strong only
    assert len({t.label for t in labelled}) >= 2


def test_policy_follows_the_router_and_counts_fallbacks():
    class Fixed(ThresholdRouter):
        def __init__(self, probs):
            self.probs = probs

        def probabilities(self, text):
            return self.probs

    env = gym.make("Orchestra/FRAMES-v0", split="test")
    confident = ThresholdRouterPolicy(Fixed({"answer-4": 0.9, NO_MODEL: 0.1}), threshold=0.8)
    result = evaluate(confident, env, n_tasks=3, seed=0)
    assert confident.routed == 3
    assert result["model_use"] == {"answer-4": 1.0}
    unsure = ThresholdRouterPolicy(Fixed({"answer-4": 0.6, NO_MODEL: 0.4}), threshold=0.8)
    result = evaluate(unsure, env, n_tasks=3, seed=0)
    assert unsure.routed == 0
    assert result["model_use"] == {"answer-1": 1.0}  # the strongest (priciest) answer model


def test_threshold_out_of_range_is_refused():
    with pytest.raises(ValueError, match="threshold"):
        ThresholdRouterPolicy(ThresholdRouter(None, _embed), threshold=1.5)
