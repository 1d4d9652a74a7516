"""The verl AgentLoop's episode logic (agents.scaleout.verl_agent_loop.run_episode), without verl:
response mask 1 exactly on sampled tokens, 0 on tool outputs; logprobs aligned; env reward."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

pytest.importorskip("transformers")

from agents.scaleout.verl_agent_loop import run_episode  # noqa: E402
from agents.toy_env import OneRightModelEnv  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from orchestra_env.tiny_lm import build_tiny_lm

    return AutoTokenizer.from_pretrained(build_tiny_lm())


def test_mask_marks_only_sampled_tokens_and_logprobs_line_up(tokenizer):
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    garbage = tokenizer("hello there", add_special_tokens=False)["input_ids"]  # no stop token: closed by the loop
    call = tokenizer('<tool_call>\n{"name": "answer", "arguments": {"model": "answer-4"}}\n</tool_call>',
                     add_special_tokens=False)["input_ids"] + [eos]
    script = [(garbage, [-0.5] * len(garbage)), (call, [-0.25] * len(call))]
    prompts = []

    async def generate(ids, params):
        assert params == {"temperature": 1.0}
        prompts.append(list(ids))
        return script[len(prompts) - 1]

    env = OneRightModelEnv(models=("answer-3", "answer-4"), max_turns=3)
    ep = asyncio.run(run_episode(generate, tokenizer, env, {"seed": 3}, {"temperature": 1.0}, max_turns=5))
    ids, mask, lp = np.array(ep.response_ids), np.array(ep.response_mask, bool), np.array(ep.response_logprobs)
    assert len(ids) == len(mask) == len(lp)
    assert ids[mask].tolist() == garbage + call  # exactly what was sampled, in order
    assert lp[mask].tolist() == [-0.5] * len(garbage) + [-0.25] * len(call) and not lp[~mask].any()
    tool_text = tokenizer.decode(ids[~mask].tolist())
    assert "Invalid action" in tool_text and "answer-4" not in tool_text  # the tool output is not trained
    assert ep.num_turns == 2 and ep.info["correct"] and ep.reward == pytest.approx(-0.1 + 1.0)
    assert "plus" in tokenizer.decode(ep.prompt_ids)  # the task is in the prompt, which is not trained
    # turn 2 was generated from prompt + turn 1 + tool output, token for token (no re-tokenising)
    assert prompts[1] == ep.prompt_ids + ep.response_ids[:len(prompts[1]) - len(ep.prompt_ids)]


def test_the_response_budget_cuts_the_episode(tokenizer):
    garbage = tokenizer("x" * 20, add_special_tokens=False)["input_ids"]

    async def generate(ids, params):
        return garbage, None

    env = OneRightModelEnv(models=("answer-3", "answer-4"), max_turns=10)
    ep = asyncio.run(run_episode(generate, tokenizer, env, {"seed": 0}, {}, max_turns=10, response_length=60))
    assert len(ep.response_ids) == 60 and ep.num_turns < 10


def test_dataset_rows_name_the_loop_and_distinct_tasks():
    from agents.scaleout.verl_agent_loop import dataset_rows

    rows = dataset_rows("agents.toy_env:OneRightModelEnv", n=8, seed=2)
    assert len(rows) == 8 and {r["agent_name"] for r in rows} == {"orchestra_env"}
    assert len({r["extra_info"]["task_index"] for r in rows}) == 8
    assert all("plus" in r["prompt"][0]["content"] for r in rows)


def test_the_agent_loop_registry_file_points_at_the_loop():
    from pathlib import Path

    import yaml

    (entry,) = yaml.safe_load((Path(__file__).parent.parent / "agents/scaleout/verl/agent_loops.yaml").read_text())
    module, name = entry["_target_"].rsplit(".", 1)
    assert entry["name"] == "orchestra_env" and module == "agents.scaleout.verl_agent_loop" and name == "OrchestraAgentLoop"
    assert entry["max_turns"] == 30


def _verl_python():
    import os
    from pathlib import Path

    for c in (os.environ.get("ORCHESTRA_VERL_PYTHON"), Path(__file__).parent.parent / ".venv-verl/bin/python"):
        if c and Path(c).is_file():
            return str(c)
    return None


@pytest.mark.skipif(_verl_python() is None, reason="no verl venv: `make verl` creates .venv-verl "
                    "(or set ORCHESTRA_VERL_PYTHON) to drive the loop through verl's AgentLoopBase")
def test_the_loop_runs_inside_verls_agent_loop_base():
    import json
    import subprocess
    from pathlib import Path

    from orchestra_env.tiny_lm import build_tiny_lm

    root = Path(__file__).parent.parent
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    done = subprocess.run([_verl_python(), "-m", "agents.scaleout.verl_smoke", str(build_tiny_lm())], cwd=root,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    mask = np.array(out["response_mask"], bool)
    ids = np.array(out["response_ids"])
    assert ids[mask].tolist() == out["sampled"][0] + out["sampled"][1]  # mask 1 exactly on LLM tokens
    assert np.array(out["response_logprobs"])[mask].tolist() == [-0.5] * int(mask.sum())
    assert out["reward_score"] == pytest.approx(0.9) and out["num_turns"] == 4
    assert len({r["request_id"] for r in out["requests"]}) == 1  # one sticky session per episode
    assert {"prompts", "responses", "response_mask", "rollout_log_probs"} <= set(out["tensors"])
