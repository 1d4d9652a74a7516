"""The alpha-UMi agent: planner, caller and summarizer over one shared history, acting in any
Orchestra env through the env's ordinary actions.

Each :meth:`AlphaUMiAgent.act` is one env step:

1. the env's last output joins the history as ``observation:``;
2. the planner writes a thought and a Next marker (no marker: the caller goes next);
3. ``Next: caller``: the caller turns the thought into ``Action``/``Action Input``, sent as a
   tool-call dict (unparsable text is sent as written, and the env answers it as it answers
   any policy's bad action);
4. ``Next: conclusion`` or ``give up``: the summarizer writes the conclusion, sent as the
   env's final action (a message to the user in conversational envs, the ``answer`` call in
   QA envs).

With ``single=True`` the backbone alone writes thought + call (or conclusion) each turn: the
single-LLM baseline of the paper, through the same history and the same actions.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from agents.multi_agent.decoding import tool_parameters
from agents.multi_agent.roles import (
    NEXT_CALLER, History, PromptConfig, ToolDocs, as_env_action, backbone_prompt, caller_prompt, format_call,
    parse_action, parse_backbone, parse_call, parse_plan, planner_prompt, summarizer_prompt,
)
from orchestra_env.actions import ToolCall


@dataclass
class TurnRecord:
    """What the roles wrote in one env step (kept in :attr:`AlphaUMiAgent.trace`)."""

    next: str
    thought: str
    raw: str  # the caller's / summarizer's / backbone's text
    action: Any
    tool: str | None = None
    known_tool: bool | None = None


@dataclass
class AlphaUMiAgent:
    """A policy (``begin``/``act``, as :mod:`agents.baselines` expects) over a :class:`~agents.
    multi_agent.glpft.Team`. Roles the team lacks fall back to its backbone, so an untrained
    team is the untrained base model in the same loop."""

    team: Any
    prompt: PromptConfig = field(default_factory=PromptConfig)
    single: bool = False
    max_new_tokens: int = 96
    max_length: int = 1024
    constrained: bool = False  # tool names, keys and string values chosen from the env's tools / the history


    def __post_init__(self) -> None:
        self.history = History()
        self.docs = ToolDocs({})
        self.trace: list[TurnRecord] = []
        self._awaiting = False

    def begin(self, env: Any, obs: Mapping[str, Any], info: Mapping[str, Any]) -> None:
        self.docs = ToolDocs.from_env(env)
        self.history = History()
        self.history.add("user", str(obs["output"]).removeprefix("User: "))
        self.trace = []
        self._awaiting = False

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> Any:
        if self._awaiting:
            self.history.add("observation", str(obs["output"]))
        self._awaiting = True
        record = self._single() if self.single else self._team()
        self.trace.append(record)
        return record.action

    # ------------------------------------------------------------------ the two loops
    def _gen(self, role: str, prompt: str) -> str:
        tools = tool_parameters(self.docs.schemas) if self.constrained and role in ("caller", "backbone") else None
        return self.team.generate(role, prompt, self.max_new_tokens, self.max_length, tools=tools,
                                  prompt_tokens=self.prompt.prompt_tokens)

    def _team(self) -> TurnRecord:
        past = self.history.render(self.prompt)
        plan = parse_plan(self._gen("planner", planner_prompt(past, self.docs, self.prompt)))
        self.history.add("assistant", plan.thought)
        if plan.next == NEXT_CALLER:
            raw = self._gen("caller", caller_prompt(past, plan.thought, self.docs, self.prompt))
            return self._call(plan.next, plan.thought, raw, parse_call(raw))
        raw = self._gen("summarizer", summarizer_prompt(self.history.render(self.prompt), self.docs, self.prompt))
        return self._conclude(plan.next, plan.thought, raw)

    def _single(self) -> TurnRecord:
        raw = self._gen("backbone", backbone_prompt(self.history.render(self.prompt), self.docs, self.prompt))
        step = parse_backbone(raw)
        self.history.add("assistant", step.thought)
        if step.conclusion is not None:
            return self._conclude("conclusion", step.thought, step.conclusion)
        assert step.call is not None
        return self._call(NEXT_CALLER, step.thought, raw[raw.find("Action:"):] if "Action:" in raw else raw, step.call)

    def _call(self, nxt: str, thought: str, raw: str, call: Any) -> TurnRecord:
        if isinstance(call, ToolCall):
            self.history.add("caller", format_call(call.tool, call.arguments))
            return TurnRecord(nxt, thought, raw, as_env_action(call, raw), call.tool, call.tool in self.docs.names)
        self.history.add("caller", raw.strip())
        return TurnRecord(nxt, thought, raw, raw, None, None)

    def _conclude(self, nxt: str, thought: str, raw: str) -> TurnRecord:
        text = raw.strip()
        self.history.add("conclusion", text)
        action: Any = text
        if text.startswith("{") or "<tool_call>" in text:  # a QA env's answer call
            call = parse_action(text)
            if isinstance(call, ToolCall):
                action = {"tool": call.tool, "arguments": dict(call.arguments)}
        return TurnRecord(nxt, thought, raw, action, action.get("tool") if isinstance(action, dict) else None)

    def conclusion(self) -> str | None:
        """The last conclusion written this episode (for Rouge-L against a reference)."""
        for e in reversed(self.history.entries):
            if e.kind == "conclusion":
                return e.text
        return None


def describe(agent: AlphaUMiAgent) -> str:
    """The episode's trace as JSON lines (debugging, examples)."""
    return "\n".join(json.dumps(r.__dict__, default=str) for r in agent.trace)
