"""Adviser policies for the agentic task sets (tau2, ToolScale): ask experts for each step, do it.

Why: on tau2 a policy's routing choice is whom to ask for the next step and whether to trust the
answer. Two documented facts of the simulated world (docs/experts.md) make simple rules strong: a
wrong adviser half the time says it is unsure, otherwise it changes one argument of the step, so two
independent advisers rarely agree on a wrong step. These programs trace points a policy that never
sees the verdicts can reach: lower bounds of the tau2 frontier, not its exact Bayes optimum.

| argument | default | meaning |
|---|---|---|
| `advisers` | `("expert-1",)` | aliases asked in order until one gives a step (one alias: always ask it) |
| `fallback` | `None` | with a fallback: ask the first two advisers; do their step when they agree, else ask the fallback and do its step |
| `question` | `"What should I do next?"` | the question sent with each call |
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import gymnasium as gym

from orchestra_env.experts.simulated import read_advice

class AdviserPolicy:
    """Asks catalogue experts (``call_expert``) for the next step and performs it."""

    def __init__(self, advisers: Sequence[str] = ("expert-1",), fallback: str | None = None,
                 question: str = "What should I do next?") -> None:
        if not advisers:
            raise ValueError("AdviserPolicy needs at least one adviser alias")
        if fallback is not None and len(advisers) < 2:
            raise ValueError("voting (a fallback) needs two advisers to compare")
        self.advisers, self.fallback, self.question = tuple(advisers), fallback, question
        self._asked: list[str] = []
        self._steps: list[dict[str, Any] | None] = []
        self._done: set[str] = set()  # steps performed this episode (a repeated write is never redone)

    def begin(self, env: gym.Env, obs: Mapping[str, Any], info: Mapping[str, Any]) -> None:
        base = env.unwrapped
        if "call_expert" not in base.tools:
            raise TypeError(f"{type(base).__name__} has no call_expert tool to ask advisers with")
        known = set(base.catalogue.aliases)
        missing = [a for a in (*self.advisers, *([self.fallback] if self.fallback else [])) if a not in known]
        if missing:
            raise ValueError(f"aliases {missing} are not in the env's catalogue: {sorted(known)}")
        self._asked, self._steps, self._done = [], [], set()

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
        if self._asked and len(self._steps) < len(self._asked):
            self._steps.append(read_advice(str(obs.get("output", ""))))
        step, ask = self._decide()
        if step is not None:
            self._asked, self._steps = [], []
            key = json.dumps(step, sort_keys=True, default=str)
            if key in self._done and step["tool"] != "respond":  # advised again: the work is done
                return {"tool": "respond", "arguments": {"content": "That is done. Is there anything else?"}}
            self._done.add(key)
            return {"tool": step["tool"], "arguments": dict(step.get("arguments") or {})}
        if ask is None:  # nobody could say: ask the user, then start the step over
            self._asked, self._steps = [], []
            return {"tool": "respond", "arguments": {"content": "Could you give me any detail I still need?"}}
        self._asked.append(ask)
        return {"tool": "call_expert", "arguments": {"expert": ask, "question": self.question}}

    def _decide(self) -> tuple[dict[str, Any] | None, str | None]:
        """(step to do, or None; alias to ask next, or None when no one is left)."""
        n = len(self._steps)
        if self.fallback is None:
            if n and self._steps[-1] is not None:
                return self._steps[-1], None
            return None, (self.advisers[n] if n < len(self.advisers) else None)
        if n < 2:
            return None, self.advisers[n]
        if n == 2:
            first, second = self._steps
            if first is not None and first == second:
                return first, None
            return None, self.fallback
        return self._steps[-1], None
