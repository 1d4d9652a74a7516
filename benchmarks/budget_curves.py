"""Accuracy vs cost under turn budgets (ToolOrchestra's budget figure).

Each agent runs with ``max_turns`` = 10, 20, 50 and 100; one curve per agent joins its
(cost, accuracy) points in budget order. Agents that answer in one or two calls draw a single
point; the defaults include agents that spend more turns when they have them (``random``
stops only when it happens to answer; ``oracle:searches=100`` keeps searching until some
answer model would be right or the budget runs out; ``thorough`` gathers evidence until one
turn before the budget, capped at 49 calls, so its 50 and 100 points coincide). The trained
router (``agents.trained_router:shipped``, our GRPO at a 4-turn budget, FRAMES' menu only: skipped
on HLE) reads its turn feature on its training scale, so larger budgets only give it room.

    python -m benchmarks.budget_curves --n 20 --out results/budget_curves
    orchestra bench budget --budgets 10 20 --envs FRAMES
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Sequence

from benchmarks.common import (
    run_recorded,
    BenchConfig, RunRecord, log_x, new_figure, parse_config, progress, run_cell, save_figure, select_envs,
)

DEFAULT_BUDGETS = (10, 20, 50, 100)


@dataclass
class BudgetConfig(BenchConfig):
    envs: list[str] = field(default_factory=lambda: ["FRAMES", "HLE"])
    policies: list[str] = field(
        default_factory=lambda: ["random", "heuristic:searches=3", "oracle:searches=100", "thorough",
                                 "agents.trained_router:shipped"])
    budgets: list[int] = field(default_factory=lambda: list(DEFAULT_BUDGETS))
    out: str = "results/budget_curves"
    n: int = 100_000  # every task of each env's split (capped at its size), not a sample


def run(config: BudgetConfig) -> list[dict[str, Any]]:
    """One row per (env, policy, budget): accuracy, usd_per_task, minutes_per_task, mean_turns."""
    cells = [(spec, policy, budget) for spec in select_envs(config.envs)
             for policy in config.policies for budget in config.budgets]
    rows = []
    for spec, policy, budget in progress(cells, "budget", config.progress):
        row = run_cell(policy, spec, config.n, config.seed, config.experts, max_turns=budget)
        base = {"env": row["env"], "policy": policy, "max_turns": budget, "status": row["status"]}
        if row["status"] == "ok":
            base.update(n_tasks=row["n_tasks"], accuracy=row["accuracy"], usd_per_task=row["mean_cost_usd"],
                        minutes_per_task=row["mean_latency_s"] / 60.0, mean_turns=row["mean_turns"])
        rows.append(base)
    return rows


def plot(rows: Sequence[dict[str, Any]], path: str, record: RunRecord) -> Any:
    envs = list(dict.fromkeys(r["env"] for r in rows))
    fig, axes = new_figure(len(envs), width=4.8)
    for ax, env in zip(axes, envs):
        for policy in dict.fromkeys(r["policy"] for r in rows):
            pts = sorted((r for r in rows if r["env"] == env and r["policy"] == policy and r["status"] == "ok"),
                         key=lambda r: r["max_turns"])
            if not pts:
                continue
            xs, ys = [r["usd_per_task"] for r in pts], [100 * r["accuracy"] for r in pts]
            (line,) = ax.plot(xs, ys, marker="o", label=policy)
            budgets_at: dict[tuple[float, float], list[str]] = {}  # points that coincide share a label
            for r, x, y in zip(pts, xs, ys):
                budgets_at.setdefault((x, y), []).append(str(r["max_turns"]))
            for (x, y), budgets in budgets_at.items():
                ax.annotate("/".join(budgets), (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points",
                            color=line.get_color())
        ax.set(title=f"{env}: accuracy vs $ (labels: turn budget)", xlabel="$ per task", ylabel="accuracy (%)")
        log_x(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, path, record)


def _extra(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budgets", nargs="+", type=int, default=list(DEFAULT_BUDGETS),
                        help="max_turns values (default 10 20 50 100)")


def main(argv: Sequence[str] | None = None, config: BudgetConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_config(argv, BudgetConfig(), __doc__, _extra)
    rows, record, paths = run_recorded("budget_curves", config, run)
    png_path = plot(rows, config.out, record)
    for r in rows:
        if r["status"] == "ok":
            print(f"{r['env']:14s} {r['policy']:24s} {r['max_turns']:4d}  acc {r['accuracy']:.3f}  "
                  f"${r['usd_per_task']:.4f}  {r['mean_turns']:.1f} turns")
    print(f"wrote {', '.join(map(str, paths))}, {png_path} ({record.duration_s:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
