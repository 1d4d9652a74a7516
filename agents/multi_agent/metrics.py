"""alpha-UMi's metrics (after ``evaluate-multi_agent.py``), static and end to end.

Static metrics replay a held-out trajectory step by step with its *reference* history (as the
paper does): at each step the planner (or the backbone) writes the next turn, and we compare

* **Plan ACC**: the Next marker (caller / conclusion) against the reference's, every step;
* **Action EM**: the called tool's name against the reference call, at reference call steps
  (a step where the model concluded instead counts as a miss);
* **argument F1**: per call step, F1 over argument keys where a key with the right value
  scores 1 and a present key with a wrong value 0.5 (the paper's rule); 0 when the tool name
  is wrong, nothing was called or the Action Input is not a JSON object; both empty scores 1;
* **hallucination rate**: calls naming a tool the env does not have, over all calls made
  (a call's name is its ``Action:`` line, even when its Action Input is not valid JSON);
* **Rouge-L**: LCS F-measure (whitespace tokens) of the conclusion against the reference's.

The caller reads the planner's *generated* thought, so a team is scored as it would act.
:func:`end_to_end` runs an agent in an env: success rate (Wilson 95% interval), $ and s.
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from agents.multi_agent.data import Trajectory
from agents.multi_agent.decoding import tool_parameters
from agents.multi_agent.roles import (
    NEXT_CALLER, NEXT_CONCLUSION, History, PromptConfig, backbone_prompt, caller_prompt, format_call,
    parse_backbone, parse_call, parse_plan, planner_prompt, summarizer_prompt,
)
from orchestra_env.actions import ToolCall


_ACTION_NAME_RE = re.compile(r"Action:\s*([^\n]*)")


def called_name(call: Any, raw: str) -> str | None:
    """The tool a call names: the parsed call's, else the ``Action:`` line's (Action EM scores
    the name even when the Action Input is not valid JSON, as the paper's evaluation does)."""
    if isinstance(call, ToolCall):
        return call.tool
    m = _ACTION_NAME_RE.search(raw)
    return m.group(1).strip() or None if m else None


def _equal(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def argument_f1(predicted: Mapping[str, Any], gold: Mapping[str, Any]) -> float:
    """F1 over keys; a present key with a wrong value scores 0.5."""
    if not predicted and not gold:
        return 1.0
    if not predicted or not gold:
        return 0.0
    score = sum(1.0 if _equal(predicted[k], gold[k]) else 0.5 for k in predicted if k in gold)
    precision, recall = score / len(predicted), score / len(gold)
    return 0.0 if score == 0 else 2 * precision * recall / (precision + recall)


def rouge_l(candidate: str, reference: str) -> float:
    """Rouge-L F-measure on whitespace tokens (LCS by dynamic programming)."""
    a, b = candidate.split(), reference.split()
    if not a or not b:
        return float(a == b)
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a rate (95% by default)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class StaticScores:
    plan_acc: float
    action_em: float
    arg_f1: float
    hallucination: float
    rouge_l: float
    n_steps: int
    n_calls: int
    n_conclusions: int

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def static_metrics(team: Any, trajectories: Iterable[Trajectory], prompt: PromptConfig = PromptConfig(),
                   single: bool = False, max_new_tokens: int = 96, max_length: int = 1024,
                   constrained: bool = False) -> StaticScores:
    """Plan ACC, Action EM, argument F1, hallucination and Rouge-L on reference trajectories
    (``constrained``: calls decoded as :class:`~agents.multi_agent.alpha_umi.AlphaUMiAgent`
    does with ``constrained=True``; hallucination is then 0 by construction)."""
    plan_hits = em = f1 = rouge = 0.0
    steps = calls = made = hallucinated = conclusions = 0
    for traj in trajectories:
        docs, names = traj.docs, set(traj.tools)
        tools = tool_parameters(docs.schemas) if constrained else None
        gen = lambda role, p: team.generate(role, p, max_new_tokens, max_length,  # noqa: E731
                                            tools=tools if role in ("caller", "backbone") else None,
                                            prompt_tokens=prompt.prompt_tokens)
        history = History()
        history.add("user", traj.query)
        for step in traj.steps:
            past = history.render(prompt)
            gold_next = NEXT_CONCLUSION if step.conclusion is not None else NEXT_CALLER
            call: Any = None
            raw = ""
            conclusion: str | None = None
            if single:
                raw = gen("backbone", backbone_prompt(past, docs, prompt))
                out = parse_backbone(raw)
                nxt = NEXT_CONCLUSION if out.conclusion is not None else NEXT_CALLER
                call, conclusion = out.call, out.conclusion
            else:
                plan = parse_plan(gen("planner", planner_prompt(past, docs, prompt)))
                nxt = NEXT_CONCLUSION if plan.next != NEXT_CALLER else NEXT_CALLER
                if nxt == NEXT_CALLER:
                    raw = gen("caller", caller_prompt(past, plan.thought, docs, prompt))
                    call = parse_call(raw)
                elif step.conclusion is not None:
                    h = History(list(history.entries))
                    h.add("assistant", plan.thought)
                    conclusion = gen("summarizer", summarizer_prompt(h.render(prompt), docs, prompt)).strip()
            steps += 1
            plan_hits += float(nxt == gold_next)
            name = called_name(call, raw) if nxt == NEXT_CALLER else None
            if name is not None:
                made += 1
                hallucinated += int(name not in names)
            if step.conclusion is not None:
                conclusions += 1
                rouge += rouge_l(conclusion or "", step.conclusion)
                break
            assert step.call is not None
            calls += 1
            if name == step.call["name"]:
                em += 1
                if isinstance(call, ToolCall):
                    f1 += argument_f1(call.arguments, step.call.get("arguments", {}))
            history.add("assistant", step.thought)
            history.add("caller", format_call(step.call["name"], step.call.get("arguments", {})))
            history.add("observation", step.observation)
    return StaticScores(plan_hits / max(steps, 1), em / max(calls, 1), f1 / max(calls, 1),
                        hallucinated / max(made, 1), rouge / max(conclusions, 1), steps, calls, conclusions)


def end_to_end(agent: Any, env: Any, task_indices: Sequence[int], seed: int = 0) -> dict[str, Any]:
    """Episodes of ``agent`` on the given tasks of ``env``: success (Wilson 95%), mean $ (the
    env's accounting: tools, experts and the orchestrator's own tokens), mean wall-clock s of
    the agent's generation plus the env's simulated latency, calls and hallucinated calls."""
    successes, costs, latencies, wall, turns = [], [], [], [], []
    made = hallucinated = 0
    for k, index in enumerate(task_indices):
        obs, info = env.reset(seed=seed + k, options={"task_index": int(index)})
        agent.begin(env, obs, info)
        start, done = time.perf_counter(), False
        while not done:
            obs, _, terminated, truncated, info = env.step(agent.act(obs, info))
            done = terminated or truncated
        wall.append(time.perf_counter() - start)
        successes.append(float(info.get("correct", False)))
        costs.append(float(info["features"]["cost_usd"]))
        latencies.append(float(info["features"]["latency_s"]))
        turns.append(int(info["turn"]))
        for r in getattr(agent, "trace", []):
            if r.known_tool is not None:
                made += 1
                hallucinated += int(not r.known_tool)
    n = len(successes)
    return {"n": n, "success": sum(successes) / max(n, 1), "success_ci95": wilson(sum(successes), n),
            "mean_cost_usd": sum(costs) / max(n, 1), "mean_env_latency_s": sum(latencies) / max(n, 1),
            "mean_wall_s": sum(wall) / max(n, 1), "mean_turns": sum(turns) / max(n, 1),
            "hallucination": hallucinated / max(made, 1), "calls": made}
