"""The confidence-threshold router's accuracy-cost curve on FRAMES-v0 (RouteLLM style).

A logistic regression over MiniLM task embeddings learns, on the train split, which answer model
is the cheapest one that answers a task correctly (labels from one judged episode per task and
model); on the test split it routes a task there when its confidence reaches the threshold and
otherwise calls the strongest (priciest) answer model. Sweeping the threshold from 0 (always trust
the classifier) to 1 (always the strongest model) traces its accuracy-cost curve.

    python -m benchmarks.threshold_routing [--thresholds 0,0.5,0.8,1] [--eval-tasks 0 = whole split]
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

from benchmarks.common import BenchConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ENV_ID = "Orchestra/FRAMES-v0"
THRESHOLDS = (0.0, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass
class ThresholdConfig(BenchConfig):
    """Hyper-parameters of the sweep (recorded with the result)."""

    thresholds: Sequence[float] = field(default_factory=lambda: list(THRESHOLDS))
    train_tasks: int = 0  # 0 = the whole train split
    eval_tasks: int = 0  # 0 = the whole test split
    c: float = 1.0  # inverse L2 strength of the logistic regression
    out: str = "results/routing_threshold"


def _finishers(env: Any) -> list[str]:
    from agents.menu import ToolMenu

    menu = ToolMenu.from_env(env)
    return [item.alias for item in menu.by_price(menu.for_tool("answer"))]


def threshold_curve(config: ThresholdConfig) -> list[dict[str, Any]]:
    """One row per threshold: accuracy (Wilson 95%), $ and s per task (bootstrap 95%), share routed."""
    import gymnasium as gym
    import torch

    import orchestra_env  # noqa: F401
    from agents.baselines import evaluate
    from agents.embedding import shared_embedder
    from agents.threshold_router import ThresholdRouter, ThresholdRouterPolicy, label_tasks
    from benchmarks.stats import bootstrap_mean, wilson

    torch.set_num_threads(1)
    train = gym.make(ENV_ID, split="train", charge_orchestrator=False)
    aliases = _finishers(train)
    labelled = label_tasks(train, aliases, n_tasks=config.train_tasks or None, seed=config.seed)
    router = ThresholdRouter.fit(labelled, shared_embedder(), c=config.c, seed=config.seed)
    test = gym.make(ENV_ID, split="test")
    n = config.eval_tasks or len(test.unwrapped.tasks)
    rows = []
    for threshold in config.thresholds:
        policy = ThresholdRouterPolicy(router, threshold=float(threshold))
        episodes = evaluate(policy, test, n_tasks=n, seed=config.seed)["episodes"]
        correct = episodes["correct"]
        rows.append({
            "router": "threshold", "threshold": float(threshold), "n": n,
            **wilson(sum(correct), n).as_dict("accuracy"),
            **bootstrap_mean(episodes["cost_usd"], seed=config.seed).as_dict("cost_usd"),
            **bootstrap_mean(episodes["latency_s"], seed=config.seed).as_dict("latency_s"),
            "routed_share": policy.routed / n,
            "train_tasks": len(labelled),
        })
    return rows


def threshold_markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| threshold | n | accuracy [95% CI] | $ per task [95% CI] | s per task | routed by the classifier |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['threshold']:g} | {r['n']} | {r['accuracy']:.3f} [{r['accuracy_lo']:.3f}, {r['accuracy_hi']:.3f}] "
                     f"| {r['cost_usd']:.4f} [{r['cost_usd_lo']:.4f}, {r['cost_usd_hi']:.4f}] | {r['latency_s']:.1f} "
                     f"| {r['routed_share']:.0%} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.common import run_recorded

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--thresholds", default=",".join(map(str, THRESHOLDS)))
    parser.add_argument("--train-tasks", type=int, default=0)
    parser.add_argument("--eval-tasks", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=ThresholdConfig.out)
    args = parser.parse_args(argv)
    config = ThresholdConfig(seed=args.seed, out=args.out, thresholds=[float(t) for t in args.thresholds.split(",")],
                             train_tasks=args.train_tasks, eval_tasks=args.eval_tasks)
    rows, _, paths = run_recorded("routing_threshold", config, threshold_curve, markdown=threshold_markdown)
    print(threshold_markdown(rows))
    print("wrote", ", ".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
