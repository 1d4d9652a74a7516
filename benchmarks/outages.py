"""Routing around provider outages: reward and accuracy with and without outages on FRAMES-v0.

The outage condition takes OpenAI (every gpt-5 / gpt-5-mini alias) down for a whole episode with
probability ``p_down``; a call to it waits ``timeout_s`` and fails, and the observation says so.
Learners are our GRPO MiniLM router on the routing view (accuracy-first reward, the published
preset), trained with outages on and trained without them, at equal env steps and ``seeds``
seeds; static baselines frame them. Everything is scored on the whole test split, with outages
on and off: accuracy with a Wilson 95% interval, mean reward with a bootstrap 95% interval (per
seed, then the mean and std over seeds).

    python -m benchmarks.outages [--steps 3000] [--seeds 0,1,2] [--p-down 0.5]
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from benchmarks.common import BenchConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ENV_ID = "Orchestra/FRAMES-v0"
BASELINES = ("cheapest", "strongest", "heuristic")


@dataclass
class OutageConfig(BenchConfig):
    """What the comparison runs (recorded with the result)."""

    steps: int = 3000  # env steps of training per router and seed
    seeds: Sequence[int] = field(default_factory=lambda: [0, 1, 2])
    p_down: float = 0.5  # probability that OpenAI is down for a whole episode
    timeout_s: float = 30.0
    provider: str = "openai"
    max_turns: int = 4
    preset: str = "accuracy-first"
    eval_tasks: int = 0  # 0 = the whole test split
    out: str = "results/outages"

    def outages(self) -> dict[str, Any]:
        return {"probability": {self.provider: self.p_down}, "timeout_s": self.timeout_s}


def make_view(config: OutageConfig, split: str, outages: bool):
    import gymnasium as gym

    import orchestra_env  # noqa: F401
    from agents.routing_view import RoutingView
    from orchestra_env.wrappers import CostLatencyPenalty

    kwargs = {"outages": config.outages()} if outages else {}
    env = gym.make(ENV_ID, split=split, max_turns=config.max_turns, **kwargs)
    return RoutingView(CostLatencyPenalty.preset(env, config.preset))


def _row(learner: str, trained_with: str, evaluated_with: str, seed: Any, episodes: dict[str, list[float]]
         ) -> dict[str, Any]:
    from benchmarks.stats import bootstrap_mean, wilson

    n = len(episodes["correct"])
    return {"learner": learner, "trained_with_outages": trained_with, "outages": evaluated_with, "seed": seed,
            "n": n, **wilson(sum(episodes["correct"]), n).as_dict("accuracy"),
            **bootstrap_mean(episodes["reward"]).as_dict("reward")}


def compare(config: OutageConfig) -> list[dict[str, Any]]:
    import torch

    from agents.baselines import evaluate
    from agents.routers import RouterConfig, train_router
    from agents.routing_view import routing_policy
    from benchmarks.routing import view_episodes

    torch.set_num_threads(1)
    tests = {flag: make_view(config, "test", flag) for flag in (False, True)}
    n = config.eval_tasks or len(tests[False].unwrapped.tasks)
    rows: list[dict[str, Any]] = []
    for name in BASELINES:
        for flag, view in tests.items():
            episodes = evaluate(name, view.env, n_tasks=n, seed=0)["episodes"]
            rows.append(_row(name, "-", "on" if flag else "off", "-", episodes))
    for trained_on in (True, False):
        for seed in config.seeds:
            t0 = time.perf_counter()
            router_config = RouterConfig(seed=int(seed), updates=10**9, max_env_steps=config.steps)
            envs = [make_view(config, "train", trained_on) for _ in range(router_config.group_size)]
            router, history = train_router(envs, router_config)
            for flag, view in tests.items():
                row = _row("minilm_router", "on" if trained_on else "off", "on" if flag else "off", seed,
                           view_episodes(view, routing_policy(router, view=view), n, seed=0))
                row["train_s"] = round(time.perf_counter() - t0, 1)
                row["env_steps"] = int(history[-1]["env_steps"])
                rows.append(row)
    return rows + seed_summary(rows)


def seed_summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over seeds of each trained (learner, trained_with, evaluated_with) cell."""
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if r["seed"] != "-":
            cells.setdefault((r["learner"], r["trained_with_outages"], r["outages"]), []).append(r)
    out = []
    for (learner, trained, evaluated), group in cells.items():
        acc, rew = [g["accuracy"] for g in group], [g["reward"] for g in group]
        out.append({"learner": learner, "trained_with_outages": trained, "outages": evaluated,
                    "seed": f"mean of {len(group)}", "n": group[0]["n"],
                    "accuracy": float(np.mean(acc)), "accuracy_std": float(np.std(acc)),
                    "reward": float(np.mean(rew)), "reward_std": float(np.std(rew))})
    return out


def _fmt(value: float, low: Any = None, high: Any = None) -> str:
    return f"{value:.3f}" + (f" [{low:.3f}, {high:.3f}]" if isinstance(low, float) else "")


def outage_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Per seed with 95% intervals, then the mean +- std over seeds of each trained cell."""
    lines = ["| learner | trained with outages | evaluated with outages | seed | n | accuracy [95% CI] | reward [95% CI] |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if str(r["seed"]).startswith("mean"):
            acc = f"{r['accuracy']:.3f} ± {r['accuracy_std']:.3f}"
            rew = f"{r['reward']:.3f} ± {r['reward_std']:.3f}"
        else:
            acc = _fmt(r["accuracy"], r.get("accuracy_lo"), r.get("accuracy_hi"))
            rew = _fmt(r["reward"], r.get("reward_lo"), r.get("reward_hi"))
        lines.append(f"| {r['learner']} | {r['trained_with_outages']} | {r['outages']} | {r['seed']} | {r['n']} | {acc} | {rew} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.common import run_recorded

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=OutageConfig.steps)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--p-down", type=float, default=OutageConfig.p_down)
    parser.add_argument("--eval-tasks", type=int, default=0)
    parser.add_argument("--out", default=OutageConfig.out)
    args = parser.parse_args(argv)
    config = OutageConfig(out=args.out, steps=args.steps, seeds=[int(s) for s in args.seeds.split(",")],
                          p_down=args.p_down, eval_tasks=args.eval_tasks)
    rows, _, paths = run_recorded("outages", config, compare, markdown=outage_markdown)
    print(outage_markdown(rows))
    print("wrote", ", ".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
