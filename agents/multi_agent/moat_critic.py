"""MOAT's critic: accept the executor's actions for the planner's subgoals, or correct them.

The corrected samples are what the executor is fine-tuned on, so the executor learns to act
on the subgoals the planner *actually* writes. Two critics, one protocol
(``judge(task, subgoals, actions) -> Verdict``):

* :class:`EnvCritic` (default): our envs are verifiable, so the critic replays the actions in
  a fresh episode of the task's env and accepts them when the env's own reward says success
  (reward 1). Otherwise it corrects with the task's gold actions (and their outputs). By
  default the planner's subgoals are kept (``keep_subgoals``): the executor then learns to
  produce the right calls from the plans it will really be given; ``keep_subgoals=False``
  replaces them with the gold subgoals too (the paper's critic rewrites both).
* :class:`LLMCritic`: the paper's way, an LLM (any :class:`~orchestra_env.experts.base.Expert`
  backend) reads the request, the subgoals and the actions with their outputs and answers
  ``ACCEPT`` or ``CORRECT`` plus a JSON object with corrected subgoals and actions, which are
  then executed to get their outputs. An unparseable answer drops the sample.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from agents.multi_agent.moat_data import (
    MoatTask, action_text, clip, env_for, execute, gold_history, render_subgoals,
)

Action = "Mapping[str, Any] | str"  # a call dict, or the executor's raw text


@dataclass
class Verdict:
    """The critic's answer: ``history`` is the (action text, output) sequence to train on,
    None when the sample is dropped."""

    accepted: bool
    subgoals: list[str]
    history: list[tuple[str, str]] | None
    reward: float
    reason: str = ""


def _text(action: Mapping[str, Any] | str) -> str:
    return action if isinstance(action, str) else action_text(action)


class EnvCritic:
    """Accept iff the env rewards the actions with success; else correct with the gold."""

    def __init__(self, keep_subgoals: bool = True, success: float = 1.0) -> None:
        self.keep_subgoals, self.success = keep_subgoals, success

    def judge(self, task: MoatTask, subgoals: Sequence[str], actions: Sequence[Mapping[str, Any] | str]) -> Verdict:
        trace = execute(env_for(task.source), task.task_id, actions)
        if trace.reward >= self.success:
            history = [(_text(a), o) for a, o in zip(actions, trace.outputs)]
            return Verdict(True, list(subgoals), history, trace.reward, "env reward: success")
        kept = list(subgoals) if self.keep_subgoals else task.gold_subgoals
        return Verdict(False, kept, gold_history(task), trace.reward,
                       f"env reward {trace.reward:g}: corrected with the gold actions")


CRITIC_PROMPT = """You check the work of a customer-service executor.
Request: {request}
Subgoals:
{subgoals}
Actions and their outputs:
{actions}

If the actions fully solve the request, answer ACCEPT.
Otherwise answer CORRECT and then one JSON object
{{"subgoals": [...], "actions": [{{"name": ..., "arguments": {{...}}}}, ...]}}
whose actions solve the request; the last action is respond, telling the customer the result and saying goodbye."""


class LLMCritic:
    """The paper's critic: an LLM accepts the sample or writes corrected subgoals and actions."""

    def __init__(self, expert: Any, model: str, max_tokens: int = 1024) -> None:
        self.expert, self.model, self.max_tokens = expert, model, max_tokens

    def judge(self, task: MoatTask, subgoals: Sequence[str], actions: Sequence[Mapping[str, Any] | str]) -> Verdict:
        from orchestra_env.experts.base import ExpertRequest

        trace = execute(env_for(task.source), task.task_id, actions)
        shown = "\n".join(f"{_text(a)}\n-> {clip(o)}" for a, o in zip(actions, trace.outputs)) or "(none)"
        prompt = CRITIC_PROMPT.format(request=task.request, subgoals=render_subgoals(subgoals), actions=shown)
        reply = self.expert.complete(ExpertRequest(model=self.model, messages=({"role": "user", "content": prompt},),
                                                   role="judge", max_tokens=self.max_tokens))
        text = reply.text.strip()
        if re.match(r"\W*ACCEPT", text, re.IGNORECASE):
            history = [(_text(a), o) for a, o in zip(actions, trace.outputs)]
            return Verdict(True, list(subgoals), history, trace.reward, "LLM critic: ACCEPT")
        corrected = _json_object(text)
        if corrected is None or not isinstance(corrected.get("actions"), list):
            return Verdict(False, list(subgoals), None, trace.reward, "LLM critic: unparseable, dropped")
        calls = [a for a in corrected["actions"] if isinstance(a, dict) and isinstance(a.get("name"), str)]
        new_subgoals = [str(s) for s in corrected.get("subgoals") or subgoals]
        fixed = execute(env_for(task.source), task.task_id, [dict(name=a["name"], arguments=dict(a.get("arguments") or {}))
                                                              for a in calls])
        history = [(action_text(a), o) for a, o in zip(calls, fixed.outputs)]
        return Verdict(False, new_subgoals, history or None, trace.reward, "LLM critic: CORRECT")


def _json_object(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = json.JSONDecoder().raw_decode(text[start:])
            if isinstance(obj, dict):
                return obj
        except json.JSONDecodeError:
            pass
        start = text.find("{", start + 1)
    return None


def make_critic(kind: str, expert: Any = None, model: str | None = None, keep_subgoals: bool = True) -> Any:
    """``"env"`` (default) or ``"llm"`` (needs an expert backend and a model name)."""
    if kind == "env":
        return EnvCritic(keep_subgoals=keep_subgoals)
    if kind == "llm":
        if expert is None or not model:
            raise ValueError("critic='llm' needs critic_model=<model> served by an expert backend (experts=...)")
        return LLMCritic(expert, model)
    raise ValueError(f"critic must be 'env' or 'llm', not {kind!r}")
