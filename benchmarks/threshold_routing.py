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


ROUTING_RESULT = "results/routing.json"
RL_POLICIES = ("bayes", "minilm_router", "minilm_lora_router", "sb3_ppo")


def plot(rows: Sequence[dict[str, Any]], record: Any, path: str, routing: str = ROUTING_RESULT) -> Any:
    """The threshold curve (accuracy vs $ per task, with intervals) beside the points of the
    Bayes and trained routers of the routing benchmark's own recorded run (its ``cost-first``
    rows, when that file exists; a different run on its own test sample: compare intervals)."""
    import json
    from pathlib import Path

    from benchmarks.common import new_figure, save_figure

    fig, (ax,) = new_figure(1, width=6.0, height=4.2)
    xs, ys = [r["cost_usd"] for r in rows], [100 * r["accuracy"] for r in rows]
    yerr = [[100 * (r["accuracy"] - r["accuracy_lo"]) for r in rows], [100 * (r["accuracy_hi"] - r["accuracy"]) for r in rows]]
    ax.errorbar(xs, ys, yerr=yerr, marker="o", capsize=3, label="threshold router (sweep)")
    for r in rows:
        if r["threshold"] in (0.0, 0.5, 0.8):
            ax.annotate(f"t={r['threshold']:g}", (r["cost_usd"], 100 * r["accuracy"]), fontsize=8,
                        xytext=(4, -10), textcoords="offset points")
    source = Path(routing)
    if source.exists():
        for r in json.loads(source.read_text())["rows"]:
            if r.get("preset") == "cost-first" and r.get("policy") in RL_POLICIES:
                label = r["policy"] + (f" seed {r['seed']}" if "seed" in r else "")
                ax.errorbar([r["cost_usd"]], [r["accuracy"]], yerr=[[r["accuracy"] - r["acc_lo"]], [r["acc_hi"] - r["accuracy"]]],
                            marker="s" if r["policy"] == "bayes" else "^", linestyle="none", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("$ per task (log)")
    ax.set_ylabel("FRAMES test accuracy, % (95% CI)")
    ax.set_title("Confidence-threshold router vs the routing benchmark's routers")
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path, record)


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
    rows, record, paths = run_recorded("routing_threshold", config, threshold_curve, markdown=threshold_markdown)
    paths.append(plot(rows, record, config.out))
    print(threshold_markdown(rows))
    print("wrote", ", ".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
