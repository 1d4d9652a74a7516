"""Reward wrapper arithmetic on the toy env (known costs: $0.01 and 1 s per `square`)."""
import pytest

from orchestra_env.wrappers import CostLatencyPenalty, PreferenceReward
from toy_env import ToyEnv

SQUARE = {"tool": "square", "arguments": {"x": 2}}


def run(env, answer, squares=2, task_index=2):
    env.reset(seed=0, options={"task_index": task_index})
    rewards = [env.step(SQUARE)[1] for _ in range(squares)]
    *_, info = out = env.step({"tool": "submit", "arguments": {"answer": answer}})
    rewards.append(out[1])
    return rewards, info


def test_cost_latency_penalty_formula():
    env = CostLatencyPenalty(ToyEnv(charge_orchestrator=False), alpha=2.0, beta=0.5, gamma=0.25,
                             cost_scale=0.01, latency_scale=2.0)
    rewards, info = run(env, "4")
    # 2*correct - 0.5 * 0.02/0.01 - 0.25 * 2/2
    assert rewards[-1] == pytest.approx(2.0 - 1.0 - 0.25)
    assert rewards[:-1] == [0.0, 0.0]
    rewards, _ = run(env, "5")  # wrong: only the penalty
    assert rewards[-1] == pytest.approx(-1.25)


def test_per_step_penalty_has_the_same_episode_total():
    kw = dict(alpha=1.0, beta=0.3, gamma=0.2, cost_scale=0.01, latency_scale=1.0)
    dense = CostLatencyPenalty(ToyEnv(charge_orchestrator=False), per_step=True, **kw)
    sparse = CostLatencyPenalty(ToyEnv(charge_orchestrator=False), **kw)
    r_dense, _ = run(dense, "4", squares=3)
    r_sparse, _ = run(sparse, "4", squares=3)
    assert sum(r_dense) == pytest.approx(sum(r_sparse))
    assert r_dense[0] == pytest.approx(-(0.3 * 1 + 0.2 * 1))


def test_toolorchestra_preset_caps_the_efficiency_penalty():
    env = CostLatencyPenalty.preset(ToyEnv(charge_orchestrator=False), "toolorchestra")
    rewards, _ = run(env, "4", squares=1)  # 5*0.01 + 1/500
    assert rewards[-1] == pytest.approx(1.0 - (0.05 + 0.002))
    rewards, _ = run(env, "4", squares=40)  # 5*0.40 + 40/500 > 0.8 -> capped
    assert rewards[-1] == pytest.approx(1.0 - 0.8)


def test_format_penalty_survives_shaping():
    env = CostLatencyPenalty.preset(ToyEnv(charge_orchestrator=False, format_penalty=0.1), "cost-first")
    env.reset(seed=0)
    assert env.step("garbage")[1] == pytest.approx(-0.1)


@pytest.mark.parametrize("name, published", [
    ("accuracy-first", (1.0, 0.1, 0.1)),  # the ToolOrchestra write-up's weights
    ("cost-first", (0.5, 1.0, 0.3)),
    ("speed-first", (0.5, 0.3, 1.0)),
])
def test_presets_are_the_published_weights(name, published):
    w = CostLatencyPenalty.preset(ToyEnv(charge_orchestrator=False), name).weights
    assert (w.alpha, w.beta, w.gamma) == published
    assert (w.cost_scale, w.latency_scale) == (0.1, 60.0)


@pytest.mark.parametrize("name", ["accuracy-first-v0", "cost-first-v0", "speed-first-v0"])
def test_earlier_presets_remain_as_variants(name):
    w = CostLatencyPenalty.preset(ToyEnv(charge_orchestrator=False), name).weights
    assert w.alpha == 1.0 and {w.beta, w.gamma} <= {0.05, 1.0}


def test_published_preset_reward_on_a_known_episode():
    # cost-first: R = 0.5*correct - 1.0*cost/0.1 - 0.3*latency/60
    env = CostLatencyPenalty.preset(ToyEnv(charge_orchestrator=False), "cost-first")
    rewards, info = run(env, "4", squares=2)
    expected = 0.5 * 1.0 - 1.0 * info["total_cost_usd"] / 0.1 - 0.3 * info["total_latency_s"] / 60.0
    assert info["correct"] and rewards[-1] == pytest.approx(expected)


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown preset"):
        CostLatencyPenalty.preset(ToyEnv(), "fastest")


def test_preference_reward_uses_the_episode_preference():
    env = PreferenceReward(ToyEnv(charge_orchestrator=False), cost_scale=0.01, latency_scale=1.0)
    env.reset(seed=0, options={"task_index": 2, "preference": {
        "weights": {"correct": 1.0, "cost_usd": 0.5, "latency_s": 0.1, "calls/square": 0.6}}})
    env.step(SQUARE)
    _, r, *_ = env.step({"tool": "submit", "arguments": {"answer": "4"}})
    # 1 - 0.5*0.01/0.01 - 0.1*1/1 + 0.6 * 1 call / 2 turns
    assert r == pytest.approx(1.0 - 0.5 - 0.1 + 0.3)
    env.reset(seed=0, options={"task_index": 2, "preference": "cost"})
    _, r, *_ = env.step({"tool": "submit", "arguments": {"answer": "wrong"}})
    assert r == 0.0
