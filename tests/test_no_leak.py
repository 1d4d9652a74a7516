"""No ground truth reaches a policy: every baseline, every env id, a few episodes each.

A *leak* is a policy-visible string that states the gold answer (QA) or the gold action list
(tau2, ToolScale) where no simulated-correct model call and no tool's world output (retrieved
passages, database records, the user's replies) produced it. Independently, no single model
call may state the whole gold action list (advice is one step by construction).
Policy-visible: the observations, the ``info`` of reset and of every step (on the final step,
the keys every step has; the judge's verdict comes after the last action), the messages a
baseline builds and every request a policy sends to the pool itself.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import orchestra_env  # noqa: F401 - registers the ids
from agents.baselines import BASELINES, PromptedPolicy, make_baseline
from orchestra_env.experts.base import ExpertRequest
from orchestra_env.experts.oracle import current_task
from orchestra_env.experts.simulated import SimulatedExpert, normalize, plan_steps
from orchestra_env.tasks import Task

ENV_IDS = sorted(k for k in gym.registry if k.startswith("Orchestra/"))
EPISODES = 2
MAX_TURNS = 8


def test_requests_have_no_slot_for_the_task():
    fields = {f.name: f.type for f in dataclasses.fields(ExpertRequest)}
    assert set(fields) == {"model", "messages", "role", "max_tokens", "temperature", "seed"}
    assert not any("Task" in str(t) for t in fields.values())


class Recorder:
    """Wraps SimulatedExpert.complete: what each call was sent, under which bound task, and said."""

    def __init__(self) -> None:
        self.calls: list[tuple[ExpertRequest, Task | None, str]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = SimulatedExpert.complete
        recorder = self

        def complete(expert: SimulatedExpert, request: ExpertRequest):
            response = original(expert, request)
            recorder.calls.append((request, current_task(), response.text))
            return response

        monkeypatch.setattr(SimulatedExpert, "complete", complete)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def _step_json(step: dict[str, Any]) -> str:
    return json.dumps(step.get("arguments", {}), ensure_ascii=False, sort_keys=True)


def _gold(task: Task) -> tuple[str, list[dict[str, Any]]]:
    """(normalised gold answer for QA or "", the plan's tool calls for agentic tasks)."""
    steps = [s for s in plan_steps(task) if s["tool"] != "respond"]
    if steps or task.benchmark in ("tau2", "toolscale"):
        return "", steps
    gold = normalize(task.answer)
    # short golds ("2", "yes") occur in any text: they cannot be told from chance here
    informative = len(gold) >= 4 and gold not in normalize(task.question)
    return (gold if informative else ""), []


def _shows(text: str, step: dict[str, Any]) -> bool:
    """Whether ``text`` states this call: its tool name followed by its arguments (two steps
    with the same arguments, get_card then delete_card, must not count as each other)."""
    args = _step_json(step)[1:-1]
    name = re.escape(f'"tool": "{step["tool"]}"')
    return any(args in text[m.end(): m.end() + len(args) + 40] for m in re.finditer(name, text))


def _leaks(text: str, gold: str, steps: list[dict[str, Any]], task: Task, producers: list[str]) -> bool:
    """Whether ``text`` states the ground truth that no producer (a model call made with the
    task bound, or a retrieved passage) stated first."""
    if gold and f" {gold} " in f" {normalize(text)} ":
        return not any(f" {gold} " in f" {normalize(p)} " for p in producers)
    if task.benchmark in ("tau2", "toolscale"):
        if task.benchmark == "tau2" and task.answer in text:
            return True  # tau2's rendered reference solution (ToolScale's answer is DB facts)
        if "Make these tool calls" in text:
            return True
        full = [s for s in steps if s.get("arguments")]
        if len(full) >= 2 and all(_shows(text, s) for s in full):
            # the whole list: fine only if each step was advised by a call that drew "right"
            return not all(any(_shows(p, s) for p in producers) for s in full)
    return False


def _one_call_gives_the_whole_plan(steps: list[dict[str, Any]], producers: list[str]) -> bool:
    full = [s for s in steps if s.get("arguments")]
    return len(full) >= 2 and any(all(_shows(p, s) for s in full) for p in producers)


def _policies(env: gym.Env) -> list[tuple[str, Any]]:
    names = [n for n in BASELINES if not (n == "oracle" and "answer" not in env.unwrapped.tools)]
    return [(n, make_baseline(n)) for n in names] + [("prompted:Qwen3-8B", PromptedPolicy(model="Qwen3-8B"))]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_no_policy_visible_string_carries_the_ground_truth(env_id, monkeypatch):
    recorder = Recorder()
    recorder.install(monkeypatch)
    if env_id.startswith("Orchestra/HLE"):  # HLE is never shipped: the test fixture stands in
        monkeypatch.setenv("ORCHESTRA_HLE_PATH", str(Path(__file__).parent / "fixtures" / "hle_sample.jsonl"))
    env = gym.make(env_id, max_turns=MAX_TURNS)
    checked = 0
    try:
        for name, policy in _policies(env):
            for episode in range(EPISODES):
                start = len(recorder.calls)
                obs, info = env.reset(seed=episode, options={"task_index": episode})
                task = env.unwrapped.episode.task
                gold, steps = _gold(task)
                visible = _strings(obs) + _strings(info)
                policy.begin(env, obs, info)
                producers: list[str] = []
                done = False
                while not done:
                    action = policy.act(obs, info)
                    obs, _, terminated, truncated, info = env.step(action)
                    done = terminated or truncated
                    if info.get("tool") == "search" or not info.get("model"):
                        # retrieved passages, database records, the user's replies: what the world
                        # returned is evidence, not a leak (model calls are checked one by one)
                        producers.append(obs["output"])
                    keys = info if not done else {k: info[k] for k in ("tool", "model", "error", "task_id")}
                    visible += _strings(obs) + _strings(keys) + _strings(action)
                visible += _strings(getattr(policy, "messages", []))
                calls = recorder.calls[start:]
                producers += [text for _, bound, text in calls if bound is not None]
                for request, bound, _ in calls:
                    if bound is None:  # sent from outside the env's step: by the policy itself
                        visible.append(request.prompt_text)
                        assert request.role in ("orchestrator", "user"), (name, request.role)
                assert not _one_call_gives_the_whole_plan(steps, producers), (env_id, name, task.task_id)
                for text in visible:
                    assert not _leaks(text, gold, steps, task, producers), (env_id, name, task.task_id, text[:300])
                checked += 1
    finally:
        env.close()
    assert checked >= 2 * len(_policies(env))


def test_prompted_requests_never_see_a_task(monkeypatch):
    recorder = Recorder()
    recorder.install(monkeypatch)
    from agents.baselines import evaluate

    evaluate(PromptedPolicy(model="gpt-5"), "Orchestra/FRAMES-v0", n_tasks=3, split="test")
    orchestrating = [(r, bound) for r, bound, _ in recorder.calls if r.role == "orchestrator"]
    env_calls = [(r, bound) for r, bound, _ in recorder.calls if r.role != "orchestrator"]
    assert orchestrating and all(bound is None for _, bound in orchestrating)
    assert env_calls and all(bound is not None for _, bound in env_calls)  # the env's tools did bind it


def test_a_leaky_string_is_caught():
    """The detector itself can fail: the rendered tau2 solution and a QA gold are flagged."""
    task = Task("t", "frames", "Who wrote it?", "Charlotte Bronte")
    assert _leaks("The author is Charlotte Bronte.", "charlotte bronte", [], task, producers=[])
    assert not _leaks("The author is Charlotte Bronte.", "charlotte bronte", [], task,
                      producers=["Final answer (answer-1): Charlotte Bronte"])
    steps = [{"tool": "get_user", "arguments": {"id": "u1"}}, {"tool": "cancel", "arguments": {"order": "o9"}}]
    agentic = Task("a", "tau2", "help", "x", metadata={"plan": steps})
    text = " ".join(json.dumps(s) for s in steps)
    assert _leaks(text, "", steps, agentic, [])
    assert not _leaks(text, "", steps, agentic, [json.dumps(s) for s in steps])  # advised one by one
    assert _one_call_gives_the_whole_plan(steps, [text])
    assert not _leaks(json.dumps(steps[0]), "", steps, agentic, [])
    assert np.isfinite(len(ENV_IDS)) and len(ENV_IDS) >= 10
