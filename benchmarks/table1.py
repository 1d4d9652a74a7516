"""ToolOrchestra's Table 1: accuracy, $ per task and minutes per task, per env and per agent.

Rows are agents (baselines, or your own as ``package.module:factory``), column groups are envs
(HLE on the 12-question test fixture unless ``ORCHESTRA_HLE_PATH`` is set, FRAMES, tau2 domains,
optionally ToolScale). Writes ``<out>.csv``/``.json`` (long format, one row per env x agent),
``<out>.md`` (the paper's wide layout) and ``<out>.png`` (accuracy vs $ per env).

    python -m benchmarks.table1 --out results/table1            # whole splits (the default)
    orchestra bench table1 --n 20 --envs FRAMES HLE --policies cheapest oracle

Every cell gives n and a 95% interval (Wilson for accuracy, a percentile bootstrap for $,
minutes and reward; benchmarks/stats.py). The default ``n`` is every task of each env's split
(FRAMES test: 168; every tau2 task of the split; ToolScale: the first ``n`` generated test tasks
of each domain, so pass ``--n`` there). ``oracle`` is an upper bound that sees the draw, not an
agent; ``prompted:model=M`` runs catalogue model ``M`` as a (simulated) prompted orchestrator.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from benchmarks.stats import bootstrap_mean, wilson
from benchmarks.common import (BenchConfig, RunRecord, log_x, new_figure, parse_config, progress,
                               result_path, run_cell, run_recorded, save_figure, select_envs)

DEFAULT_ENVS = ("HLE", "FRAMES", "tau2-airline", "tau2-retail", "tau2-telecom")
DEFAULT_POLICIES = ("random", "cheapest", "heuristic", "strongest", "prompted", "prompted:model=gpt-5",
                    "prompted:model=Qwen3-8B", "thorough", "agents.trained_router:shipped", "oracle")
WHOLE_SPLIT = 100_000  # n is capped at each env's task count: every task of the split


@dataclass
class Table1Config(BenchConfig):
    envs: list[str] = field(default_factory=lambda: list(DEFAULT_ENVS))
    policies: list[str] = field(default_factory=lambda: list(DEFAULT_POLICIES))
    out: str = "results/table1"
    n: int = WHOLE_SPLIT


def run(config: Table1Config) -> list[dict[str, Any]]:
    """One row per (env, policy): accuracy, usd_per_task, minutes_per_task, mean_turns, ..."""
    cells = [(spec, policy) for spec in select_envs(config.envs) for policy in config.policies]
    rows = []
    for spec, policy in progress(cells, "table1", config.progress):
        row = run_cell(policy, spec, config.n, config.seed, config.experts)
        rows.append(_table_row(row))
    return rows


def _table_row(row: dict[str, Any]) -> dict[str, Any]:
    if row["status"] != "ok":
        return {"env": row["env"], "policy": row["policy"], "status": row["status"]}
    ep = row["episodes"]
    minutes = [x / 60.0 for x in ep["latency_s"]]
    return {
        "env": row["env"], "policy": row["policy"], "status": "ok", "n_tasks": row["n_tasks"],
        **wilson(sum(ep["correct"]), len(ep["correct"])).as_dict("accuracy"),
        **bootstrap_mean(ep["cost_usd"]).as_dict("usd_per_task"),
        **bootstrap_mean(minutes).as_dict("minutes_per_task"),
        **bootstrap_mean(ep["reward"]).as_dict("mean_reward"),
        "mean_turns": row["mean_turns"],
    }


def _cell(r: dict[str, Any], key: str, scale: float, digits: int) -> str:
    return (f"{scale * r[key]:.{digits}f} [{scale * r[key + '_lo']:.{digits}f}, "
            f"{scale * r[key + '_hi']:.{digits}f}]")


def wide_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The paper's layout: one line per agent; n, accuracy (%), $ and minutes per env, each with
    its 95% interval in brackets."""
    envs = list(dict.fromkeys(r["env"] for r in rows))
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    cell = {(r["env"], r["policy"]): r for r in rows}
    head = "| agent | " + " | ".join(f"{e} n | {e} acc % | {e} $ | {e} min" for e in envs) + " |"
    lines = [head, "|---|" + "---:|" * (4 * len(envs))]
    for p in policies:
        parts = []
        for e in envs:
            r = cell.get((e, p), {})
            if r.get("status") == "ok":
                parts += [str(r["n_tasks"]), _cell(r, "accuracy", 100, 1), _cell(r, "usd_per_task", 1, 4),
                          _cell(r, "minutes_per_task", 1, 2)]
            else:
                parts += ["n/a"] * 4
        lines.append(f"| {p} | " + " | ".join(parts) + " |")
    note = ("\n95% intervals in brackets: Wilson (accuracy), percentile bootstrap (mean $ and minutes). "
            "Rows whose intervals overlap are not distinguishable at this n. `oracle` sees the simulator's "
            "draw: an upper bound, not an agent.\n")
    return "\n".join(lines) + "\n" + note


def plot(rows: Sequence[dict[str, Any]], path: str | Path, record: RunRecord) -> Path:
    """Accuracy vs $ per task, one panel per env, one labelled point per agent."""
    envs = list(dict.fromkeys(r["env"] for r in rows))
    fig, axes = new_figure(len(envs))
    for ax, env in zip(axes, envs):
        for r in (r for r in rows if r["env"] == env and r["status"] == "ok"):
            x, y = r["usd_per_task"], 100 * r["accuracy"]
            ax.errorbar(x, y, xerr=[[max(0.0, x - r["usd_per_task_lo"])], [max(0.0, r["usd_per_task_hi"] - x)]],
                        yerr=[[max(0.0, y - 100 * r["accuracy_lo"])], [max(0.0, 100 * r["accuracy_hi"] - y)]],
                        fmt="o", ms=4, capsize=2, lw=0.8)
            ax.annotate(r["policy"], (r["usd_per_task"], 100 * r["accuracy"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set(title=env, xlabel="$ per task", ylabel="accuracy (%)", ylim=(-5, 105))
        log_x(ax)
        ax.grid(alpha=0.3)
    return save_figure(fig, path, record)


def main(argv: Sequence[str] | None = None, config: Table1Config | None = None) -> list[dict[str, Any]]:
    config = config or parse_config(argv, Table1Config(), __doc__)
    rows, record, paths = run_recorded("table1", config, run)
    md_path = result_path(config.out, ".md")
    md_path.write_text(wide_markdown(rows))
    png_path = plot(rows, config.out, record)
    print(wide_markdown(rows))
    print(f"wrote {', '.join(map(str, paths))}, {md_path}, {png_path} ({record.duration_s:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
