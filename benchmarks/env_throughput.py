"""Env throughput: steps/s of FRAMES-v0 with simulated experts, and where a step's time goes.

Each tool of the env is wrapped in a timer, and so is the judge, so a step's wall time splits
into *tools* (search, answer, enhance_reasoning, python: the simulated experts and BM25 run
inside them), *judge* (scoring the final answer) and *env* (everything else: parsing,
validation, accounting, observations). The policy is the ``random`` baseline (it calls every
tool that can be filled by rule); its own time is measured apart and excluded. Here ``--n`` is
the number of timed episodes.

    python -m benchmarks.env_throughput --episodes 200 --out results/env_throughput
    orchestra bench throughput

Training throughput (tokens/s of one GRPO step, ours vs TRL) is ``benchmarks/grpo_throughput.py``;
the agentic domains' reset/step latency is ``benchmarks/domain_throughput.py``.
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from benchmarks.common import BenchConfig, markdown_table, progress, result_path, run_recorded


class Timed:
    """A stand-in for a tool (or any callable) that adds its wall time to ``totals[label]``;
    every other attribute (``name``, ``schema``, ``validate`` ...) is the wrapped object's."""

    def __init__(self, inner: Any, label: str, totals: dict[str, float]) -> None:
        self.inner, self.label, self.totals = inner, label, totals

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.totals[self.label] += time.perf_counter() - t0

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)


def instrument(env: Any, totals: dict[str, float]) -> None:
    """Time every tool as ``tool/<name>`` and the judge as ``judge`` (in place)."""
    base = env.unwrapped
    base.tools  # build them now: the first call constructs tools lazily
    for name, tool in list(base.tools.items()):
        base.tools[name] = Timed(tool, f"tool/{name}", totals)
    base._evaluate = Timed(base._evaluate, "judge", totals)


@dataclass
class ThroughputConfig(BenchConfig):
    envs: list[str] = field(default_factory=lambda: ["FRAMES"])
    policies: list[str] = field(default_factory=lambda: ["random"])
    n: int = 200  # episodes
    warmup: int = 5  # episodes before timing (index loading, first imports)
    out: str = "results/env_throughput"


def measure(spec: Any, policy_spec: str, config: ThroughputConfig) -> dict[str, Any]:
    from benchmarks.common import make_policy

    env = spec.make(config.experts)
    totals: dict[str, float] = defaultdict(float)
    policy = make_policy(policy_spec)
    steps = episodes = 0
    step_s = policy_s = 0.0
    try:
        instrument(env, totals)
        if "search" in env.unwrapped.tools:  # load the index now: its one-off build is not a step
            env.reset(seed=config.seed)
            env.step({"tool": "search", "arguments": {"query": "warm-up"}})
        for i in progress(range(config.warmup + config.n), f"throughput {spec.label}", config.progress):
            if i == config.warmup:
                totals.clear()
                steps = episodes = 0
                step_s = policy_s = 0.0
            obs, info = env.reset(seed=config.seed + i)
            policy.begin(env, obs, info)
            done = False
            while not done:
                t0 = time.perf_counter()
                action = policy.act(obs, info)
                t1 = time.perf_counter()
                obs, _, terminated, truncated, info = env.step(action)
                step_s += time.perf_counter() - t1
                policy_s += t1 - t0
                steps += 1
                done = terminated or truncated
            episodes += 1
    finally:
        env.close()
    tools_s = sum(v for k, v in totals.items() if k.startswith("tool/"))
    row: dict[str, Any] = {
        "env": spec.label, "policy": policy_spec, "episodes": episodes, "steps": steps,
        "steps_per_s": steps / step_s, "ms_per_step": 1000 * step_s / steps,
        "share_env": (step_s - tools_s - totals["judge"]) / step_s,
        "share_tools": tools_s / step_s, "share_judge": totals["judge"] / step_s,
        "policy_ms_per_step": 1000 * policy_s / steps,
    }
    row.update({f"share_{k}": v / step_s for k, v in sorted(totals.items()) if k.startswith("tool/")})
    return row


def run(config: ThroughputConfig) -> list[dict[str, Any]]:
    from benchmarks.common import select_envs

    return [measure(spec, p, config) for spec in select_envs(config.envs) for p in config.policies]


def _extra(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--warmup", type=int, default=ThroughputConfig.warmup,
                        help="untimed episodes first (default %(default)s)")


def main(argv: Sequence[str] | None = None, config: ThroughputConfig | None = None) -> list[dict[str, Any]]:
    from benchmarks.common import parse_config

    config = config or parse_config(argv, ThroughputConfig(), __doc__, _extra)
    rows, record, paths = run_recorded("env_throughput", config, run)
    md_path = result_path(config.out, ".md")
    md_path.write_text(markdown_table(rows))
    for r in rows:
        parts = ", ".join(f"{k.removeprefix('share_tool/')} {100 * v:.1f}%" for k, v in r.items()
                          if k.startswith("share_tool/"))
        print(f"{r['env']}: {r['steps_per_s']:.0f} steps/s ({r['ms_per_step']:.2f} ms/step, {r['steps']} steps); "
              f"env {100 * r['share_env']:.1f}%, tools {100 * r['share_tools']:.1f}% ({parts}), "
              f"judge {100 * r['share_judge']:.1f}%; policy {r['policy_ms_per_step']:.2f} ms/step apart")
    print(f"wrote {', '.join(map(str, paths))}, {md_path} ({record.duration_s:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
