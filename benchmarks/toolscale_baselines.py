"""Sanity scores of the ToolScale domains with the scripted user: the gold solution, a
do-nothing agent and a random-tool agent, per domain, on generated tasks.

    orchestra bench toolscale-baselines [--domains bank weather] [--n 200] [--split test]
    python -m benchmarks.toolscale_baselines --out results/toolscale_baselines

The sample is the first ``n`` tasks of the split's generated stream
(``TaskGenerator(domain, seed)``, the env's own tasks for ``split``/``seed``), the same for the
three agents. gold: the task's gold calls in order, then every required answer said, then
goodbye. do-nothing: says goodbye at once. random-tool: ``random_calls`` calls of uniformly
drawn derived tools (``get_*``, ``find_*``, ``update_*``, ...; not ``respond`` or
``call_expert``), each required argument drawn from the values that argument takes in the
sample's gold calls (real ids, enum values), else from its enum, then goodbye (as
tau2-baselines does for tau2). The reward is binary, so each column is a success rate with n
and its 95% Wilson interval (``benchmarks.stats.wilson``). Gold should be 1.0 (the generator
keeps only tasks whose replay verifies) and do-nothing 0.0 (every kept task writes or tells);
random-tool says how often chance solves a task.
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

from benchmarks.common import RunConfig, parse_run_config, run_recorded
from benchmarks.stats import wilson

from orchestra_env.domains.toolscale.db import DOMAINS
from orchestra_env.envs.toolscale import ToolScaleEnv

BYE = "Goodbye!"
NOT_DRAWN = ("respond", "call_expert")  # the random agent calls the domain's tools only


@dataclass
class ToolScaleBaselinesConfig(RunConfig):
    domains: list[str] = field(default_factory=lambda: list(DOMAINS), metadata={"help": "ToolScale domains"})
    n: int = field(default=200, metadata={"help": "generated tasks per domain (the first n of the split)"})
    split: str = field(default="test", metadata={"help": "train or test"})
    random_calls: int = field(default=5, metadata={"help": "tool calls of the random-tool agent per episode"})
    max_turns: int = field(default=30, metadata={"help": "episode turn limit"})
    out: str = field(default="results/toolscale_baselines", metadata={"help": "output stem"})


def episode(env: ToolScaleEnv, index: int, steps: list[Any]) -> float:
    """The reward of task ``index`` under ``steps`` (then goodbye); 0.0 if it never ends."""
    env.reset(seed=index, options={"task_index": index})
    for action in steps + [BYE]:
        _, reward, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            return float(reward)
    return 0.0


def gold_steps(task: Any) -> list[Any]:
    calls = [{"tool": a["name"], "arguments": a["arguments"]} for a in task.metadata["actions"]]
    return calls + ["Done. " + "; ".join(task.metadata["required"]) + "."]


def argument_pool(tasks: Sequence[Any]) -> dict[str, list[Any]]:
    """Every value each argument name takes in the gold calls of ``tasks``."""
    values: dict[str, list[Any]] = defaultdict(list)
    for task in tasks:
        for action in task.metadata["actions"]:
            for name, value in action["arguments"].items():
                values[name].append(value)
    return values


def random_steps(env: ToolScaleEnv, rng: random.Random, values: dict[str, list[Any]], n: int) -> list[Any]:
    names = sorted(name for name in env.unwrapped.tools if name not in NOT_DRAWN)
    steps = []
    for _ in range(n):
        name = rng.choice(names)
        parameters = env.unwrapped.tools[name].schema()["function"]["parameters"]
        arguments = {}
        for arg in parameters.get("required", []):
            enum = parameters.get("properties", {}).get(arg, {}).get("enum")
            pool = values.get(arg) or enum
            if pool:
                arguments[arg] = rng.choice(pool)
        steps.append({"tool": name, "arguments": arguments})
    return steps


def rate(rewards: list[float], prefix: str) -> dict[str, float]:
    if any(r not in (0.0, 1.0) for r in rewards):
        raise ValueError(f"{prefix}: ToolScale rewards are binary, got {sorted(set(rewards))}")
    return wilson(sum(rewards), len(rewards)).as_dict(prefix)


def measure(config: ToolScaleBaselinesConfig) -> list[dict[str, Any]]:
    """One row per domain: sizes, n, and each agent's success rate with its 95% interval."""
    rows: list[dict[str, Any]] = []
    for domain in config.domains:
        env = ToolScaleEnv(domain, split=config.split, num_tasks=config.n, seed=config.seed,
                           max_turns=config.max_turns)
        tasks = [env.tasks[i] for i in range(len(env.tasks))]
        env.reset(seed=0, options={"task_index": 0})  # builds the episode's tools
        values, rng = argument_pool(tasks), random.Random(f"{config.seed}:{domain}")
        gold = [episode(env, i, gold_steps(t)) for i, t in enumerate(tasks)]
        nothing = [episode(env, i, []) for i in range(len(tasks))]
        chance = [episode(env, i, random_steps(env, rng, values, config.random_calls)) for i in range(len(tasks))]
        schema = env.domain.schema
        rows.append({"domain": domain, "tables": len(schema.tables()), "collections": len(schema.collections),
                     "tools": len(env.unwrapped.tools), "n": len(tasks),
                     **rate(gold, "gold"), **rate(nothing, "do_nothing"), **rate(chance, "random_tool")})
        env.close()
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    def cell(row: dict[str, Any], k: str) -> str:
        return f"{row[k]:.3f} [{row[k + '_lo']:.3f}, {row[k + '_hi']:.3f}]"

    lines = ["| domain | tables | collections | tools | n | gold | do-nothing | random-tool |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['domain']} | {r['tables']} | {r['collections']} | {r['tools']} | {r['n']} | "
              f"{cell(r, 'gold')} | {cell(r, 'do_nothing')} | {cell(r, 'random_tool')} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, config: ToolScaleBaselinesConfig | None = None) -> int:
    config = config or parse_run_config(argv, ToolScaleBaselinesConfig(), __doc__)
    if config.split not in ("train", "test"):
        raise SystemExit(f"--split must be train or test, not {config.split!r}")
    unknown = sorted(set(config.domains) - set(DOMAINS))
    if unknown:
        raise SystemExit(f"unknown ToolScale domain(s) {unknown}; choose from {list(DOMAINS)}")
    rows, record, paths = run_recorded("toolscale_baselines", config, measure, markdown=markdown)
    print(markdown(rows))
    print(f"wrote {', '.join(map(str, paths))} ({record.duration_s:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
