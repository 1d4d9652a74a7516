"""Planner and executor acting in Orchestra envs, many episodes in lockstep.

One episode: the planner writes subgoals for the request, then the executor writes one action
per env step, given the request, the subgoals and the (action, output) history, until the
episode ends or ``len(subgoals) + slack`` steps are spent. Actions are the executor's raw text
passed to ``env.step`` (a ``<tool_call>`` or a plain message), as for any policy. ``plans=None``
runs the single agent (the executor's prompt without subgoals, role ``single``).

Metrics per episode (:class:`Outcome`): task success (the env's reward, 0 when the episode
never ends), step success (share of the gold tool calls matched at their position: same tool
and arguments; messages to the user are judged by the env's reward),
the env's $ total and the wall-clock seconds (a batch's time shared by its episodes).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from agents.multi_agent.moat_data import (
    MoatTask, executor_messages, make_env, parse_action_text, parse_subgoals, planner_messages,
)
from agents.multi_agent.moat_roles import Roles, encode_prompt


@dataclass
class Outcome:
    task_id: str
    subgoals: list[str] | None
    actions: list[str]
    outputs: list[str]
    reward: float
    step_success: float
    cost_usd: float
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def step_success(task: MoatTask, actions: Sequence[str]) -> float:
    """Share of the gold *tool calls* the executor made at their position (same tool, same
    arguments). Messages to the user (``respond``) are left to the env's reward, which judges
    their content; a gold sequence of messages only is scored by whether a message was sent."""
    calls = [(i, g) for i, g in enumerate(task.gold_actions) if g["name"] != "respond"]
    if not calls:
        return float(any(parse_action_text(a) is None or parse_action_text(a)["name"] == "respond" for a in actions))
    hits = 0
    for i, gold in calls:
        call = parse_action_text(actions[i]) if i < len(actions) else None
        hits += call is not None and call["name"] == gold["name"] and call["arguments"] == gold["arguments"]
    return hits / len(calls)


def sample_plans(roles: Roles, tasks: Sequence[MoatTask], n: int, temperature: float, top_p: float,
                 seed: int, greedy: bool = False) -> list[list[str]]:
    """``n`` subgoal-sequence texts per task (one batched generate over all tasks x n)."""
    tok = roles.tokenizer
    prompts = [encode_prompt(tok, planner_messages(t)) for t in tasks for _ in range(n)]
    texts = roles.generate("planner", prompts, roles.config.max_plan_tokens, temperature=temperature,
                           top_p=top_p, greedy=greedy, seed=seed, batch_size=64)
    return [texts[i * n:(i + 1) * n] for i in range(len(tasks))]


def constrained_actions(roles: Roles, role: str, prompts: Sequence[list[int]], envs: Sequence[Any]) -> list[str]:
    """Greedy executor actions through alpha-UMi's constrained call decoder
    (:mod:`agents.multi_agent.decoding`): a Hermes call whose tool is one of the env's, keys
    the tool's parameters and string values spans of the prompt (a ``respond`` message stays
    free). One prompt at a time (the decoder steers each text on its own)."""
    from agents.multi_agent.decoding import constrained_generate, tool_parameters
    from agents.multi_agent.roles import ToolDocs

    out = []
    with roles.use(role) as model:
        for ids, env in zip(prompts, envs):
            text = roles.tokenizer.decode(ids)
            params = tool_parameters(ToolDocs.from_env(env).schemas)
            out.append(constrained_generate(model, roles.tokenizer, text, list(ids), params,
                                            roles.config.max_action_tokens, stop="</tool_call>", role="executor"))
    return out


def run_episodes(roles: Roles, tasks: Sequence[MoatTask], plans: Sequence[Sequence[str]] | None,
                 temperature: float = 0.0, seed: int = 0, slack: int = 1, max_steps: int = 8,
                 constrained: bool = False) -> list[Outcome]:
    """Play every task once in its own env (lockstep, batched generation; ``constrained``:
    greedy, each action through :func:`constrained_actions`)."""
    start = time.perf_counter()
    role = "single" if plans is None else "executor"
    envs = [make_env(t.source) for t in tasks]
    histories: list[list[tuple[str, str]]] = [[] for _ in tasks]
    rewards = [0.0] * len(tasks)
    costs = [0.0] * len(tasks)
    active = []
    for i, (env, task) in enumerate(zip(envs, tasks)):
        env.reset(seed=seed, options={"task_id": task.task_id})
        active.append(i)
    budget = [min(max_steps, (len(plans[i]) if plans is not None else len(t.gold_actions)) + slack)
              for i, t in enumerate(tasks)]
    step = 0
    while active:
        prompts = [encode_prompt(roles.tokenizer, executor_messages(
            tasks[i], plans[i] if plans is not None else None, histories[i])) for i in active]
        if constrained:
            texts = constrained_actions(roles, role, prompts, [envs[i] for i in active])
        else:
            texts = roles.generate(role, prompts, roles.config.max_action_tokens, temperature=temperature,
                                   greedy=temperature <= 0, seed=seed + step, batch_size=64)
        still = []
        for i, text in zip(active, texts):
            obs, r, term, trunc, info = envs[i].step(text)
            histories[i].append((text, obs["output"]))
            costs[i] = float(info.get("total_cost_usd", 0.0))
            if term:
                rewards[i] = float(r)
            elif not trunc and len(histories[i]) < budget[i]:
                still.append(i)
        active, step = still, step + 1
    seconds = (time.perf_counter() - start) / max(1, len(tasks))
    return [Outcome(t.task_id, list(plans[i]) if plans is not None else None, [a for a, _ in histories[i]],
                    [o for _, o in histories[i]], rewards[i], step_success(t, [a for a, _ in histories[i]]),
                    costs[i], seconds) for i, t in enumerate(tasks)]


def plan_and_run(roles: Roles, tasks: Sequence[MoatTask], seed: int = 0, temperature: float = 0.0,
                 constrained: bool = False) -> list[Outcome]:
    """Greedy plans, then the executor (evaluation)."""
    texts = sample_plans(roles, tasks, 1, 1.0, 1.0, seed, greedy=True)
    return run_episodes(roles, tasks, [parse_subgoals(p[0]) or [p[0][:200]] for p in texts],
                        temperature=temperature, seed=seed, constrained=constrained)
