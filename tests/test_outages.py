"""Provider outages: configuration checks, per-episode draws, and the failure a call gets."""
import numpy as np
import pytest

from orchestra_env.outages import OUTAGE_ERROR, Outages, provider_of

MODELS = ["gpt-5", "gpt-5-mini", "Qwen3-32B", "Llama-3.3-70B", "Claude-Opus-4.1"]


def test_providers_by_family():
    assert provider_of("gpt-5-mini") == "openai"
    assert provider_of("Claude-Opus-4.1") == "anthropic"
    assert provider_of("Qwen2.5-Math-7B") == "qwen"
    assert provider_of("my-local-model") == "my-local-model"


def test_schedule_takes_a_provider_down_for_its_window_only():
    outages = Outages.from_any({"schedule": {"openai": [[0, 2]]}, "timeout_s": 12}, MODELS)
    ep = outages.draw(np.random.default_rng(0))
    for turn in (0, 1):
        failure = ep.failure("gpt-5-mini", turn)
        assert failure is not None and failure.error.startswith(OUTAGE_ERROR)
        assert "openai" in failure.error and failure.latency_s == 12
        assert failure.tokens_in == failure.tokens_out == 0
    assert ep.failure("gpt-5-mini", 2) is None
    assert ep.failure("Qwen3-32B", 0) is None


def test_probability_draws_are_per_episode_and_reproducible():
    outages = Outages.from_any({"probability": {"gpt-5": 0.5}}, MODELS)
    draws = [outages.draw(np.random.default_rng(s)).down for s in range(200)]
    share = np.mean([bool(d) for d in draws])
    assert 0.4 < share < 0.6
    assert draws == [outages.draw(np.random.default_rng(s)).down for s in range(200)]
    always = Outages.from_any({"probability": {"anthropic": 1.0}}, MODELS).draw(np.random.default_rng(0))
    assert always.failure("Claude-Opus-4.1", 7) is not None and always.failure("gpt-5", 7) is None


@pytest.mark.parametrize("config, match", [
    ({"probability": {"google": 0.5}}, "neither a catalogue model nor a provider"),
    ({"probability": {"openai": 1.5}}, r"in \[0, 1\]"),
    ({"schedule": {"openai": [[3, 1]]}}, "start < end"),
    ({"timeout_s": -1}, "timeout_s"),
    ({"down": ["openai"]}, "unknown outages keys"),
])
def test_bad_configs_are_refused_with_the_fix(config, match):
    with pytest.raises(ValueError, match=match):
        Outages.from_any(config, MODELS)


# ---------------------------------------------------------------------------- in the env
import gymnasium as gym  # noqa: E402

import orchestra_env  # noqa: E402,F401


def test_a_down_provider_fails_after_its_timeout_and_the_policy_can_route_around_it():
    env = gym.make("Orchestra/FRAMES-v0", split="test", charge_orchestrator=False,
                   outages={"schedule": {"openai": [[0, 1]]}, "timeout_s": 45})
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step({"tool": "answer", "arguments": {"model": "answer-1"}})
    assert not terminated and not truncated  # nothing was answered: the episode goes on
    assert info["error"].startswith(OUTAGE_ERROR) and "openai" in obs["output"]
    assert info["latency_s"] == 45 and info["cost_usd"] == 0 and info["total_latency_s"] == 45
    # the window is over at the next turn, and another provider was up all along
    *_, terminated, _, info = env.step({"tool": "answer", "arguments": {"model": "answer-3"}})
    assert terminated and info["error"] is None
    assert info["total_latency_s"] > 45  # the wait stays in the episode's totals


def test_outages_change_nothing_else_in_the_episode():
    """Same seed with and without a (never-hit) outage: the same draws and outputs."""
    actions = [{"tool": "search", "arguments": {"model": "search-3"}},
               {"tool": "answer", "arguments": {"model": "answer-4"}}]

    def run(**kw):
        env = gym.make("Orchestra/FRAMES-v0", split="test", **kw)
        obs, _ = env.reset(seed=3)
        outs = [obs["output"]]
        for a in actions:
            obs, r, *_ , info = env.step(a)
            outs.append((obs["output"], r, info["total_cost_usd"]))
        return outs

    assert run() == run(outages={"probability": {"anthropic": 1.0}})


def test_bad_outage_config_fails_at_make():
    with pytest.raises(ValueError, match="neither a catalogue model nor a provider"):
        gym.make("Orchestra/FRAMES-v0", outages={"probability": {"google": 0.5}})


def test_tau2_expert_calls_hit_outages_too():
    env = gym.make("Orchestra/Tau2-mock-v0", outages={"probability": {"openai": 1.0}, "timeout_s": 5})
    env.reset(seed=0)
    *_, info = env.step({"tool": "call_expert", "arguments": {"expert": "expert-1", "question": "?"}})
    assert info["error"].startswith(OUTAGE_ERROR) and info["latency_s"] == 5
