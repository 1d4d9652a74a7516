"""Concurrency is deterministic: N envs side by side give what N envs one after another give.

Vectorised (``gym.make_vec``, sync and async) and threaded runs share one search index and
one expert pool; with the same seeds and scripted actions they must reproduce sequential
runs exactly (observations, rewards, totals, verdicts). Episode databases of the agentic
domains must stay private to their env, and to their episode.
"""
from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

import gymnasium as gym
import pytest
from gymnasium.spaces.utils import flatten, flatten_space, unflatten
from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory
from hypothesis import given, settings
from hypothesis import strategies as st

import orchestra_env  # noqa: F401 - registers the ids
from fault_server import Fault, FaultServer, Seen, _reply
from orchestra_env.experts.pool import ExpertPool
from orchestra_env.spaces import UnicodeText

FRAMES = "Orchestra/FRAMES-v0"
SEEDS = [101, 202, 303]
ACTIONS: list[Any] = [
    {"tool": "search", "arguments": {"query": "first person to walk on the moon"}},
    {"tool": "search", "arguments": {"model": "search-2"}},
    {"tool": "enhance_reasoning", "arguments": {"model": "reasoner-2"}},
    '<tool_call>{"name": "python", "arguments": {"code": "print(sum(range(10)))"}}</tool_call>',
    "<tool_call>{broken",
    {"tool": "search", "arguments": {"model": "search-3", "query": "population"}},
]
ANSWERS: list[Any] = [{"tool": "answer", "arguments": {"model": "answer-2"}},
                      {"tool": "answer", "arguments": {"model": "answer-1"}}]
STEPS = 4


def script(i: int) -> list[Any]:
    """Env i's actions: a rotation of the pool, so envs differ, then an answer (all end together)."""
    return [ACTIONS[(i + t) % len(ACTIONS)] for t in range(STEPS - 1)] + [ANSWERS[i % len(ANSWERS)]]


@dataclass(frozen=True)
class StepRecord:
    """What one env showed at one step; ``latency`` is left out where the backend is a real clock."""

    task: str
    output: str
    spent: tuple[float, ...]
    reward: float
    done: tuple[bool, bool]
    totals: tuple[float, ...]
    error: str | None
    correct: bool | None


def record(obs: dict, reward: float, terminated: bool, truncated: bool, info: dict, wall_clock: bool) -> StepRecord:
    totals = (info["total_cost_usd"], info["total_tokens_in"], info["total_tokens_out"])
    spent = tuple(float(x) for x in obs["spent"])
    if not wall_clock:
        totals += (info["total_latency_s"],)
    else:
        spent = spent[:2]
    return StepRecord(obs["task"], obs["output"], spent, float(reward), (bool(terminated), bool(truncated)),
                      totals, info["error"], info.get("correct"))


def run_one(env: gym.Env, seed: int, actions: Sequence[Any], wall_clock: bool = False) -> list[StepRecord]:
    env.reset(seed=seed)
    return [record(*env.step(a), wall_clock=wall_clock) for a in actions]


def unbatch(obs: dict, i: int) -> dict:
    return {k: v[i] for k, v in obs.items()}


def info_of(info: dict, i: int) -> dict:
    """Env i's info out of a vector env's batched info (keys masked by ``_key``)."""
    return {k: v[i] for k, v in info.items()
            if not k.startswith("_") and not isinstance(v, dict) and info[f"_{k}"][i]}


def run_vector(venv: gym.vector.VectorEnv, seeds: list[int], scripts: list[list[Any]]) -> list[list[StepRecord]]:
    venv.reset(seed=seeds)
    runs: list[list[StepRecord]] = [[] for _ in seeds]
    for t in range(STEPS):
        obs, rewards, terms, truncs, info = venv.step(tuple(s[t] for s in scripts))
        for i in range(len(seeds)):
            runs[i].append(record(unbatch(obs, i), rewards[i], terms[i], truncs[i], info_of(info, i), False))
    return runs


# ---------------------------------------------------------------------------- text across processes


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(st.text(st.characters(exclude_categories=()), max_size=64))
def test_any_text_crosses_async_shared_memory_intact(text: str) -> None:
    """AsyncVectorEnv reads its shared buffer once, at construction, then workers write into it:
    a dash or a tab once killed the worker, and text observations stayed frozen at their first read."""
    space = gym.spaces.Dict({"output": UnicodeText(64)})
    memory = create_shared_memory(space, n=2)
    view = read_from_shared_memory(space, memory, n=2)["output"]  # as AsyncVectorEnv.__init__ does
    write_to_shared_memory(space, 1, {"output": text}, memory)  # as a worker's step does
    assert view[1] == text and view[0] == ""
    assert copy.deepcopy(view) == ("", text)  # what a step returns with copy=True
    flat = flatten(space["output"], text)
    assert flatten_space(space["output"]).contains(flat) and unflatten(space["output"], flat) == text


# ---------------------------------------------------------------------------- simulated experts


@pytest.fixture(scope="module")
def pool() -> ExpertPool:
    return ExpertPool()  # the simulated pool, one object for every env


@pytest.fixture(scope="module")
def sequential(pool: ExpertPool) -> list[list[StepRecord]]:
    env = gym.make(FRAMES, experts=pool)
    return [run_one(env, seed, script(i)) for i, seed in enumerate(SEEDS)]


def test_the_scripts_exercise_every_path(sequential: list[list[StepRecord]]) -> None:
    """Guards the comparison below against comparing nothing: the runs differ and reach the end."""
    assert len({run[0].task for run in sequential}) == len(SEEDS)
    assert all(run[-1].done[0] and run[-1].correct is not None for run in sequential)
    assert any(step.error for run in sequential for step in run)
    assert len({run[-1].totals for run in sequential}) == len(SEEDS)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vectorised_runs_equal_sequential_runs(mode: str, pool: ExpertPool,
                                               sequential: list[list[StepRecord]]) -> None:
    venv = gym.make_vec(FRAMES, num_envs=len(SEEDS), vectorization_mode=mode, experts=pool)
    try:
        vectorised = run_vector(venv, SEEDS, [script(i) for i in range(len(SEEDS))])
        if mode == "sync":  # one index and one expert pool really are shared
            envs = [e.unwrapped for e in venv.envs]
            assert all(e.experts is pool for e in envs)
            assert len({id(e.tools["search"].index) for e in envs}) == 1
    finally:
        venv.close()
    for i, (got, want) in enumerate(zip(vectorised, sequential)):
        assert got == want, f"env {i} ({mode}) diverged from its sequential run"


def test_the_order_of_episodes_does_not_matter(pool: ExpertPool, sequential: list[list[StepRecord]]) -> None:
    """An episode's draws come from (seed, task, turn), not from what ran before in the process."""
    env = gym.make(FRAMES, experts=pool)
    backwards = [run_one(env, SEEDS[i], script(i)) for i in reversed(range(len(SEEDS)))]
    assert backwards[::-1] == sequential


# ---------------------------------------------------------------------------- experts over HTTP


def reply_for(body: dict) -> Fault:
    """A completion that is a pure function of the request, so a crossed wire shows."""
    digest = hashlib.sha256(json.dumps([body["model"], body["messages"], body["seed"]], sort_keys=True).encode())
    h = digest.hexdigest()
    prompt = sum(len(m["content"]) for m in body["messages"]) // 4 + 1
    return Fault("ok", text=f"reply {h[:12]}", prompt_tokens=prompt, completion_tokens=3 + int(h[:2], 16) % 20)


class EchoServer(FaultServer):
    """A deterministic OpenAI-compatible server: the fault server with replies derived from requests."""

    def _handler(self) -> type:
        server = self

        class Handler(super()._handler()):  # type: ignore[misc]
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server._lock:
                    server.seen.append(Seen(time.monotonic(), dict(self.headers), body))
                time.sleep(0.005)  # widen the window in which threads interleave
                _reply(self, reply_for(body))

        return Handler


def test_threads_sharing_one_http_expert_pool_equal_sequential_runs() -> None:
    n = 4
    with EchoServer() as srv:
        spec = {"backend": "openai", "base_url": srv.base_url, "api_key": "sk-test", "timeout_s": 5.0,
                "deadline_s": 10.0, "max_retries": 0}
        pool = ExpertPool.from_config({"default": "simulated", "models": {"gpt-5-mini": spec}})
        seeds = [7 + i for i in range(n)]
        envs = [gym.make(FRAMES, experts=pool) for _ in range(n)]
        sequential = [run_one(envs[i], seeds[i], script(i), wall_clock=True) for i in range(n)]
        requests_sequential = len(srv.seen)

        threaded: list[Any] = [None] * n
        barrier = threading.Barrier(n)

        def work(i: int) -> None:
            barrier.wait()
            try:
                threaded[i] = run_one(envs[i], seeds[i], script(i), wall_clock=True)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                threaded[i] = exc

        threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert requests_sequential >= n and len(srv.seen) == 2 * requests_sequential
    served = [s for run in sequential for s in run if "reply " in s.output]
    assert len({s.output for s in served}) == len(served) > 1, "replies must differ to detect crossed wires"
    for i in range(n):
        assert threaded[i] == sequential[i], f"thread {i} diverged from its sequential run"


# ---------------------------------------------------------------------------- private databases


def _toolscale_delete(env: gym.Env) -> tuple[int, dict, dict]:
    """A task whose gold calls read a record and then delete it: (task index, read, delete)."""
    for i, task in enumerate(env.unwrapped.tasks[:300]):
        calls = task.metadata["actions"]
        for read, write in zip(calls, calls[1:]):
            if (read["name"].startswith("get_") and write["name"].startswith("delete_")
                    and read["arguments"] == write["arguments"]):
                return i, {"tool": read["name"], "arguments": read["arguments"]}, \
                    {"tool": write["name"], "arguments": write["arguments"]}
    pytest.skip("no generated task reads then deletes a record")


def _tau2_cancel(env: gym.Env) -> tuple[int, dict, dict]:
    """A retail task whose gold calls cancel a pending order: (task index, read, cancel)."""
    for i in range(len(env.unwrapped.tasks)):
        env.reset(seed=0, options={"task_index": i})
        criteria = env.unwrapped.episode.world.task.evaluation_criteria
        for action in (criteria.actions or []) if criteria else []:
            if action.name == "cancel_pending_order":
                order = {"order_id": action.arguments["order_id"]}
                return i, {"tool": "get_order_details", "arguments": order}, \
                    {"tool": "cancel_pending_order", "arguments": dict(action.arguments)}
    pytest.skip("no retail task cancels a pending order")


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("env_id, find", [
    ("Orchestra/ToolScale-bank-v0", _toolscale_delete),
    ("Orchestra/Tau2-retail-v0", _tau2_cancel),
], ids=["toolscale-bank", "tau2-retail"])
def test_vectorised_agentic_envs_keep_their_databases_private(mode: str, env_id: str, find: Any) -> None:
    index, read, write = find(gym.make(env_id))
    venv = gym.make_vec(env_id, num_envs=2, vectorization_mode=mode)
    try:
        venv.reset(seed=[0, 1], options={"task_index": index})
        before = venv.step((read, read))[0]["output"]
        venv.step((write, read))  # env 0 writes; env 1 only reads
        after = venv.step((read, read))[0]["output"]
        venv.reset(seed=[2, 3], options={"task_index": index})  # a new episode starts from the shipped DB
        fresh = venv.step((read, read))[0]["output"]
    finally:
        venv.close()
    assert before[0] == before[1]
    assert after[0] != before[0], "the write must show in the writer's own database"
    assert after[1] == before[1], "the write leaked into the other env's database"
    assert fresh == before, "the write leaked into the next episode"
