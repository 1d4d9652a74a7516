"""MOAT's data: tasks with gold action sequences, the held-in / held-out split, and the text
the planner and the executor read and write.

MOAT needs, for every task, the *gold* action sequence (the planner is scored by how well the
executor predicts it) and a way to check an action sequence (the critic). Orchestra envs with
both are the generated ToolScale domains (gold calls replayed at generation time) and tau2
(``gold_steps``). A :class:`MoatTask` keeps a task's opening request, the names of the tools
it may call, the gold actions, their outputs (replayed once through the env, which also
checks that the gold earns reward 1) and the gold subgoals the grounding data is built from.

The prompts are deliberately short (the request only, no domain policy or tool list, tool
outputs clipped): the roles are small LoRA adapters, and the planner is scored K = 15 times
per task. This module is MOAT's own small renderer; alpha-UMi (``agents/multi_agent``) has
its own, to be unified later.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping, Sequence

import gymnasium as gym

PLANNER_SYSTEM = ("You are the planner. Read the customer's request and write the subgoals that "
                  "solve it, one numbered line each; the last subgoal answers the customer.")
EXECUTOR_SYSTEM = ("You are the executor. Carry out the current subgoal with exactly one tool call "
                   "inside <tool_call></tool_call>.")
SINGLE_SYSTEM = ("You are a customer service agent. Solve the request with one tool call per turn "
                 "inside <tool_call></tool_call>; finish with respond.")
FINAL_SUBGOAL = "Tell the customer the result and say goodbye."
GOODBYE = "Goodbye!"
OUTPUT_CHARS = 60  # a tool output as the executor sees it (history), clipped
REQUEST_CHARS = 300


@dataclass(frozen=True)
class Source:
    """Where tasks come from: ``kind`` "toolscale" (a generated domain) or "tau2"."""

    kind: str
    domain: str
    split: str = "train"
    num_tasks: int = 8

    @classmethod
    def parse(cls, text: str) -> "Source":
        """``toolscale:bank:train:8`` or ``tau2:airline:all:6`` (split and count optional)."""
        parts = text.split(":")
        if len(parts) < 2 or parts[0] not in ("toolscale", "tau2"):
            raise ValueError(f"a task source is kind:domain[:split[:num_tasks]] with kind toolscale|tau2, not {text!r}")
        split = parts[2] if len(parts) > 2 else ("train" if parts[0] == "toolscale" else "all")
        return cls(parts[0], parts[1], split, int(parts[3]) if len(parts) > 3 else 8)

    def __str__(self) -> str:
        return f"{self.kind}:{self.domain}:{self.split}:{self.num_tasks}"


@dataclass(frozen=True)
class SplitSpec:
    """Held-in sources train (and are evaluated on their *test* split, unseen records);
    held-out sources are never trained on: other ToolScale domains and a tau2 domain.

    Why these: FRAMES (the issue's suggestion) has no gold *action sequence* to score the
    planner with, so MOAT's held-in side is ToolScale only; held-out mixes an unseen
    ToolScale schema with a different simulator (tau2 airline), as the paper's held-out side
    mixes unseen benchmarks.
    """

    train: tuple[str, ...] = ("toolscale:bank:train:12", "toolscale:restaurant:train:12")
    held_in: tuple[str, ...] = ("toolscale:bank:test:6", "toolscale:restaurant:test:6")
    held_out: tuple[str, ...] = ("toolscale:movie:test:6", "tau2:airline:all:6")


@dataclass
class MoatTask:
    """One task with its gold trace (actions as ``{"name", "arguments"}``, their outputs)."""

    task_id: str
    source: Source
    request: str
    tool_names: tuple[str, ...]
    gold_actions: list[dict[str, Any]]
    gold_outputs: list[str]
    required: list[str] = field(default_factory=list)

    @property
    def gold_subgoals(self) -> list[str]:
        return [subgoal_of(a) for a in self.gold_actions]


# ----------------------------------------------------------------------------- envs and tasks
def make_env(source: Source, max_turns: int = 12) -> gym.Env:
    """The Orchestra env serving a source's tasks (scripted user, offline)."""
    if source.kind == "toolscale":
        from orchestra_env.envs.toolscale import ToolScaleEnv

        return ToolScaleEnv(source.domain, split=source.split, num_tasks=4 * max(source.num_tasks, 1),
                            max_turns=max_turns)
    from orchestra_env.envs.tau2 import Tau2Env

    return Tau2Env(source.domain, split=source.split, max_turns=max_turns)


@lru_cache(maxsize=None)
def _env(source: Source, max_turns: int) -> gym.Env:
    return make_env(source, max_turns)


def env_for(source: Source, max_turns: int = 12) -> gym.Env:
    """One shared env per source (envs are reset per episode; tasks never leak across)."""
    return _env(source, max_turns)


def load_tasks(sources: Sequence[str | Source], max_gold: int = 6, min_gold: int = 2) -> list[MoatTask]:
    """Tasks of the sources whose gold trace replays to reward 1 in the env and has
    ``min_gold`` to ``max_gold`` actions (the last one the goodbye message; a task solved by a
    message alone plans nothing), in a fixed order."""
    out: list[MoatTask] = []
    for s in sources:
        source = Source.parse(s) if isinstance(s, str) else s
        env = env_for(source)
        candidates = _gold_sequences(env, source)
        for task_id, actions in candidates:
            if len(out) and sum(t.source == source for t in out) >= source.num_tasks:
                break
            if not min_gold <= len(actions) <= max_gold:
                continue
            trace = execute(env, task_id, actions)
            if trace.reward < 1.0:
                continue
            tool_names = tuple(sorted(json.loads(line)["name"] for line in trace.tools.splitlines() if line.strip()))
            out.append(MoatTask(task_id, source, trace.request, tool_names, actions,
                                [clip(o) for o in trace.outputs], _required(env, task_id)))
    return out


def _gold_sequences(env: gym.Env, source: Source) -> list[tuple[str, list[dict[str, Any]]]]:
    base = env.unwrapped
    if source.kind == "toolscale":
        rows = []
        for task in base.tasks:
            info = list(task.metadata.get("required", []))
            final = {"name": "respond", "arguments": {"content": " ".join([*map(str, info), GOODBYE])}}
            rows.append((task.task_id, [dict(name=a["name"], arguments=dict(a["arguments"])) for a in
                                        task.metadata["actions"]] + [final]))
        return rows
    from orchestra_env.envs.tau2 import gold_steps

    rows = []
    for task_id, t in base.tau2_tasks.items():
        steps = [dict(name=s["tool"], arguments=dict(s["arguments"])) for s in gold_steps(t)]
        if steps and steps[-1]["name"] == "respond":
            last = steps.pop()
            steps.append({"name": "respond", "arguments": {"content": f"{last['arguments']['content']} {GOODBYE}"}})
        else:
            steps.append({"name": "respond", "arguments": {"content": GOODBYE}})
        rows.append((task_id, steps))
    return rows


def _required(env: gym.Env, task_id: str) -> list[str]:
    for task in env.unwrapped.tasks:
        if task.task_id == task_id:
            return [str(x) for x in task.metadata.get("required", [])]
    return []


@dataclass
class Trace:
    """What executing an action sequence in the env gave."""

    request: str
    tools: str
    outputs: list[str]
    reward: float
    terminated: bool
    info: dict[str, Any]


def execute(env: gym.Env, task_id: str, actions: Sequence[Mapping[str, Any] | str]) -> Trace:
    """Reset ``env`` on the task and play the actions as normal env actions (dicts or text);
    stops at the episode's end. The reward is the env's own (0 if the episode never ends)."""
    obs, _ = env.reset(seed=0, options={"task_id": task_id})
    request, tools = obs["output"], obs["tools"]
    outputs: list[str] = []
    reward, done, info = 0.0, False, {}
    for action in actions:
        step_action = action if isinstance(action, str) else {"tool": action["name"], "arguments": action["arguments"]}
        obs, r, term, trunc, info = env.step(step_action)
        outputs.append(obs["output"])
        if term or trunc:
            reward, done = float(r), bool(term)
            break
    return Trace(request, tools, outputs, reward if done else 0.0, done, dict(info))


# ----------------------------------------------------------------------------- text
def clip(text: str, n: int = OUTPUT_CHARS) -> str:
    return text if len(text) <= n else text[:n] + "..."


def subgoal_of(action: Mapping[str, Any]) -> str:
    """The gold subgoal for one gold action: what to do and with which values, in words."""
    if action["name"] == "respond":
        return FINAL_SUBGOAL
    args = ", ".join(f"{k} {v}" for k, v in action["arguments"].items())
    verb = action["name"].replace("_", " ")
    return f"{verb}: {args}" if args else verb


def render_subgoals(subgoals: Sequence[str]) -> str:
    return "\n".join(f"{i}. {s}" for i, s in enumerate(subgoals, 1))


def parse_subgoals(text: str, limit: int = 8) -> list[str]:
    """Numbered lines -> subgoals (numbering stripped, blanks dropped, at most ``limit``)."""
    out = []
    for line in text.splitlines():
        line = line.strip().lstrip("0123456789").lstrip(".)-: ").strip()
        if line:
            out.append(line)
    return out[:limit]


def action_text(action: Mapping[str, Any]) -> str:
    """An action as the executor writes it (a Hermes tool call, as the chat template shows calls)."""
    return "<tool_call>\n" + json.dumps({"name": action["name"], "arguments": action["arguments"]}) + "\n</tool_call>"


def parse_action_text(text: str) -> dict[str, Any] | None:
    """The executor's text -> ``{"name", "arguments"}``, or None when it is no valid call."""
    from orchestra_env.actions import ToolCall, parse_action

    call = parse_action(text)
    return {"name": call.tool, "arguments": dict(call.arguments)} if isinstance(call, ToolCall) else None


def _task_block(task: MoatTask) -> str:
    """The request only: tool names are spelled out in the subgoals (and cost ~300 tokens)."""
    return f"Request: {clip(task.request, REQUEST_CHARS)}"


def planner_messages(task: MoatTask) -> list[dict[str, str]]:
    return [{"role": "system", "content": PLANNER_SYSTEM}, {"role": "user", "content": _task_block(task)}]


def executor_messages(task: MoatTask, subgoals: Sequence[str] | None,
                      history: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """The executor's view: task, the planner's subgoals (None: the single agent, no plan), and
    the (action text, clipped output) pairs so far, as alternating assistant/tool turns."""
    if subgoals is None:
        messages = [{"role": "system", "content": SINGLE_SYSTEM}, {"role": "user", "content": _task_block(task)}]
    else:
        messages = [{"role": "system", "content": EXECUTOR_SYSTEM},
                    {"role": "user", "content": f"{_task_block(task)}\nSubgoals:\n{render_subgoals(subgoals)}"}]
    for action, output in history:
        messages.append({"role": "assistant", "content": action})
        messages.append({"role": "tool", "content": clip(output)})
    return messages


def gold_history(task: MoatTask) -> list[tuple[str, str]]:
    return [(action_text(a), o) for a, o in zip(task.gold_actions, task.gold_outputs)]
