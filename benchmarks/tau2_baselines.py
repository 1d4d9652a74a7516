"""Sanity scores of the tau2 domains with the offline scripted user: the gold solution, a
do-nothing agent and a random-tool agent, per domain.

    orchestra bench tau2-baselines [--domains airline mock] [--random-episodes 3]
    python -m benchmarks.tau2_baselines --out results/tau2_baselines

gold: the task's gold actions in order (the agent's as tool calls, the user's asked of the
scripted user, who runs them on its device), then the required information said, then goodbye.
do-nothing: says goodbye at once. random-tool: 8 calls of uniformly drawn domain tools with
arguments drawn from the values that argument takes in the domain's gold actions, then goodbye.
The mean reward over tasks is written to ``results/tau2_baselines.{csv,json,md}``; the gold
column should be 1.0 except for tasks tau2 itself cannot score 1 (see tests/test_tau2.py).
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

from benchmarks.common import RunConfig, markdown_table, parse_run_config, run_recorded

from orchestra_env.envs.tau2 import Tau2Env, gold_steps

BYE = "Thank you for contacting us. Goodbye!"


def run(env: Tau2Env, task_id: str, steps: list[Any]) -> float:
    env.reset(seed=0, options={"task_id": task_id})
    for action in steps + [BYE]:
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return float(info["reward"])
    return 0.0


def random_steps(env: Tau2Env, rng: random.Random, values: dict[str, list[Any]], n: int = 8) -> list[Any]:
    import inspect

    methods = env.domain.tools_cls.tool_methods()
    names = [m for m in methods if m != "transfer_to_human_agents"]
    steps = []
    for _ in range(n):
        name = rng.choice(names)
        params = list(inspect.signature(methods[name]).parameters)[1:]
        steps.append({"tool": name, "arguments": {p: rng.choice(values.get(p, ["x"])) for p in params}})
    return steps


@dataclass
class Tau2BaselinesConfig(RunConfig):
    domains: list[str] = field(default_factory=lambda: ["airline", "mock", "retail", "telecom"],
                               metadata={"help": "tau2 domains"})
    random_episodes: int = field(default=3, metadata={"help": "random-tool episodes per task"})
    out: str = field(default="results/tau2_baselines", metadata={"help": "output stem"})


def measure(config: Tau2BaselinesConfig) -> list[dict[str, Any]]:
    """One row per domain: tasks, tools and the mean reward of gold, do-nothing and random-tool."""
    rows: list[dict[str, Any]] = []
    for domain in config.domains:
        try:
            env = Tau2Env(domain, max_turns=30)
            tasks = list(env.tau2_tasks.values())
        except (KeyError, ImportError) as exc:
            rows.append({"domain": domain, "status": f"skipped: {exc}"})
            continue
        values: dict[str, list[Any]] = defaultdict(list)
        for t in tasks:
            for a in t.gold_actions:
                for k, v in a.arguments.items():
                    values[k].append(v)
        rng = random.Random(config.seed)
        gold = sum(run(env, t.id, gold_steps(t)) for t in tasks) / len(tasks)
        nothing = sum(run(env, t.id, []) for t in tasks) / len(tasks)
        rand = sum(run(env, t.id, random_steps(env, rng, values)) for t in tasks
                   for _ in range(config.random_episodes)) / (len(tasks) * config.random_episodes)
        rows.append({"domain": domain, "status": "ok", "tasks": len(tasks),
                     "tools": len(env.domain.tools_cls.tool_methods()),
                     "gold": gold, "do_nothing": nothing, "random_tool": rand})
    return rows


def main(argv: Sequence[str] | None = None, config: Tau2BaselinesConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_run_config(argv, Tau2BaselinesConfig(), __doc__)
    columns = ["domain", "tasks", "tools", "gold", "do_nothing", "random_tool"]
    rows, record, paths = run_recorded("tau2_baselines", config, measure,
                                       markdown=lambda rows: markdown_table(rows, columns, ".3f"))
    print(markdown_table(rows, columns, ".3f"))
    print(f"wrote {', '.join(map(str, paths))} ({record.duration_s:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
