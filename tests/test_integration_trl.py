"""TRL's GRPOTrainer on Orchestra envs through ``agents.trl_env`` (TRL's environment_factory)."""
from __future__ import annotations

import json
import os
import re

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("trl", reason="needs trl: pip install 'orchestra-env[bench]'")
pytest.importorskip("datasets")
from transformers import AutoTokenizer  # noqa: E402
from transformers.utils import get_json_schema  # noqa: E402

from agents.trl_env import OrchestraTRL  # noqa: E402
from orchestra_env.wrappers import CostLatencyPenalty  # noqa: E402

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def _py(name: str) -> str:
    py = re.sub(r"\W", "_", name)
    return py if py.isidentifier() and py not in {"class", "from", "import", "global", "lambda"} else f"arg_{py}"


@pytest.mark.parametrize("env_id", ["Orchestra/FRAMES-v0", "Orchestra/Tau2-mock-v0", "Orchestra/ToolScale-railway-v0"])
def test_tool_methods_render_as_the_env_tool_schemas(env_id):
    """TRL renders a tool from the method through transformers.get_json_schema: it must give back
    our schema (names, required set, types, enums), so the model sees the tools our trainer shows."""
    orch = OrchestraTRL(env_id)
    env = orch.environment_factory()
    type_names = {"string", "integer", "number", "boolean", "array", "object"}
    for schema in orch.tool_schemas:
        got = get_json_schema(getattr(env, schema["name"]))["function"]
        assert got["name"] == schema["name"]
        want_props = schema["parameters"].get("properties", {})
        assert set(got["parameters"]["properties"]) == {_py(k) for k in want_props}
        assert set(got["parameters"].get("required", [])) == {_py(k) for k in schema["parameters"].get("required", [])}
        for name, spec in want_props.items():
            mine = got["parameters"]["properties"][_py(name)]
            if spec.get("type") in type_names:
                assert mine["type"] == spec["type"], (schema["name"], name)
            if "enum" in spec:
                assert mine["enum"] == spec["enum"]


def test_tool_call_parsed_by_the_tokenizer_reaches_the_env():
    """The path TRL takes for one turn: parse_response on the model's text, call the method with
    the parsed arguments; the reward function then returns the env's verdict."""
    from trl.chat_template_utils import qwen3_template

    from orchestra_env.tiny_lm import build_tiny_lm

    tok = AutoTokenizer.from_pretrained(build_tiny_lm())
    tok.response_template = qwen3_template  # the tiny LM writes Qwen/Hermes tool calls
    orch = OrchestraTRL("Orchestra/FRAMES-v0", max_turns=4)
    gold = gym.make("Orchestra/FRAMES-v0").unwrapped.tasks[3].answer
    rewards = []
    for answer in (gold, "certainly not the answer"):
        env = orch.environment_factory()
        prompt = env.reset(task_index=3, seed=11)
        assert "Accuracy matters most" in prompt  # the preference, then the task
        call = json.dumps({"name": "answer", "arguments": {"answer": answer}})
        message = tok.parse_response(f"<tool_call>\n{call}\n</tool_call><|im_end|>", prefix="<|im_start|>assistant\n")
        call = message["tool_calls"][0]["function"]
        output = getattr(env, call["name"])(**call["arguments"])
        assert isinstance(output, str)
        rewards += orch.env_reward([[{"role": "assistant", "content": ""}]], environments=[env])
    assert rewards[0] == pytest.approx(1.0 - 0.0) and rewards[1] == pytest.approx(0.0)
    assert [r.finished for r in orch.episodes] == [True, True]


def test_grpo_trainer_logs_the_env_reward(tmp_path):
    """A few GRPOTrainer steps on the tiny model: the rewards TRL logged per step are the means of
    the returns we get by replaying each recorded rollout in a fresh gym.make env."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer
    from trl.chat_template_utils import qwen3_template

    from orchestra_env.tiny_lm import build_tiny_lm

    torch.manual_seed(0)
    path = build_tiny_lm()
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    tok.response_template = qwen3_template
    model = AutoModelForCausalLM.from_pretrained(path)

    # cost paid per step, scaled up: the orchestrator's own tokens make the rewards differ per rollout
    def shaped(env):
        return CostLatencyPenalty(env, beta=50.0, per_step=True)

    orch = OrchestraTRL("Orchestra/FRAMES-v0", wrappers=[shaped], max_turns=1)
    batch, steps = 4, 2
    args = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=batch, num_generations=2,
                      max_completion_length=12, max_steps=steps, logging_steps=1, report_to=[], use_cpu=True,
                      save_strategy="no", seed=0, max_tool_calling_iterations=1, learning_rate=1e-3)
    trainer = GRPOTrainer(model=model, processing_class=tok, args=args, train_dataset=orch.dataset(8, seed=0),
                          environment_factory=orch.environment_factory,
                          reward_funcs=[orch.env_reward, orch.preference_reward])
    trainer.train()

    logged = [h["rewards/env_reward/mean"] for h in trainer.state.log_history if "rewards/env_reward/mean" in h]
    assert len(logged) == steps and len(orch.episodes) == batch * steps

    def replay(record) -> float:
        env = shaped(gym.make("Orchestra/FRAMES-v0", max_turns=1))
        env.reset(seed=record.seed, options={"task_index": record.task_index})
        return sum(float(env.step(a)[1]) for a in record.actions)

    returns = np.array([replay(r) for r in orch.episodes])
    assert np.allclose(returns, [r.env_return for r in orch.episodes], atol=1e-6)
    assert returns.std() > 0  # the check below could not tell rewards apart otherwise
    assert np.allclose(logged, returns.reshape(steps, batch).mean(axis=1), atol=1e-5)
    # preference reward: every rollout finished (max_turns=1) and none is correct -> ToolOrchestra's 0
    pref = [h["rewards/preference_reward/mean"] for h in trainer.state.log_history if "rewards/preference_reward/mean" in h]
    assert pref == [0.0] * steps and all(r.finished for r in orch.episodes)
