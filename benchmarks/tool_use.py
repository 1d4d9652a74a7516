"""Tool-use distribution per agent: the share of calls that go to each tool and each model.

ToolOrchestra reports how often its orchestrator calls each tool and model compared with
prompted frontier models; here every agent gets bars per env: tools, model aliases, and the
real models behind the aliases (``kind="target"``, the unit of the paper's figures: GPT-5 sends
52.3% of its calls to GPT-5-mini; ``published`` carries that figure where there is one). Each
share has n (calls) and a 95% Wilson interval; calls within an episode are not independent, so
read the interval as a lower bound on the uncertainty.

    python -m benchmarks.tool_use --n 20 --out results/tool_use
    orchestra bench tool-use --envs FRAMES tau2-retail
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from benchmarks.common import (BenchConfig, RunRecord, new_figure, parse_config, parse_policy, progress,
                               result_path, run_cell, run_recorded, save_figure, select_envs)
from benchmarks.stats import wilson


@dataclass
class ToolUseConfig(BenchConfig):
    envs: list[str] = field(default_factory=lambda: ["FRAMES", "tau2-retail"])
    policies: list[str] = field(default_factory=lambda: [
        "random", "heuristic", "prompted:model=gpt-5", "prompted:model=Claude-Opus-4.1",
        "prompted:model=Qwen3-8B", "agents.trained_router:shipped", "oracle"])
    out: str = "results/tool_use"
    n: int = 100_000  # every task of each env's split (capped at its size)


def published_shares() -> dict[tuple[str, str], float]:
    """(orchestrator model, target model) -> published share of calls, from tool_use.csv."""
    import csv
    from importlib import resources

    text = resources.files("orchestra_env").joinpath("data/toolorchestra/tool_use.csv").read_text()
    names = {"GPT-5": "gpt-5", "GPT-5-mini": "gpt-5-mini"}
    out = {}
    for row in csv.DictReader(text.splitlines()):
        what = row["what"]
        if what.startswith("calls to ") and what.removeprefix("calls to ") in names:
            model = names.get(row["orchestrator"], row["orchestrator"])
            out[(model, names[what.removeprefix("calls to ")])] = float(row["share_percent"]) / 100
    return out


def run(config: ToolUseConfig) -> list[dict[str, Any]]:
    """One row per (env, policy, kind, name): ``kind`` is "tool", "model" (alias) or "target"
    (the real model behind the aliases); ``share`` of calls with ``calls``/``n_calls`` and a
    Wilson interval."""
    from orchestra_env.usage import Catalogue

    catalogue, published = Catalogue.default(), published_shares()
    cells = [(spec, policy) for spec in select_envs(config.envs) for policy in config.policies]
    rows = []
    for spec, policy in progress(cells, "tool-use", config.progress):
        row = run_cell(policy, spec, config.n, config.seed, config.experts)
        if row["status"] != "ok":
            continue
        targets: dict[str, int] = {}
        for alias, count in row["model_calls"].items():
            model = catalogue.aliases[alias].model if alias in catalogue.aliases else alias
            targets[model] = targets.get(model, 0) + count
        orchestrator = parse_policy(policy)[1].get("model")
        for kind, counts in (("tool", row["tool_calls"]), ("model", row["model_calls"]), ("target", targets)):
            total = sum(counts.values())
            for name, count in counts.items():
                share = wilson(count, total)
                rows.append({"env": spec.label, "policy": policy, "kind": kind, "name": name,
                             "calls": count, "n_calls": total, **share.as_dict("share"),
                             "published": published.get((orchestrator, name)) if kind == "target" else None,
                             "n_tasks": row["n_tasks"], "mean_turns": row["mean_turns"]})
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The target-model shares per (env, policy), with n, interval and the published figure."""
    lines = ["| env | agent | target model | calls | share % [95% CI] | published % |", "|---|---|---|---:|---:|---:|"]
    for r in rows:
        if r["kind"] != "target":
            continue
        pub = "" if r["published"] is None else f"{100 * r['published']:.1f}"
        lines.append(f"| {r['env']} | {r['policy']} | {r['name']} | {r['calls']}/{r['n_calls']} | "
                     f"{100 * r['share']:.1f} [{100 * r['share_lo']:.1f}, {100 * r['share_hi']:.1f}] | {pub} |")
    return "\n".join(lines) + "\n"


def plot(rows: Sequence[dict[str, Any]], path: str, record: RunRecord) -> Any:
    """Stacked horizontal bars: one panel per (env, kind), one bar per agent."""
    import matplotlib

    panels = list(dict.fromkeys((r["env"], r["kind"]) for r in rows))
    fig, axes = new_figure(max(1, len(panels)), width=4.6, height=4.2)
    for ax, (env, kind) in zip(axes, panels):
        sub = [r for r in rows if r["env"] == env and r["kind"] == kind]
        policies = list(dict.fromkeys(r["policy"] for r in sub))
        names = sorted({r["name"] for r in sub})
        colours = matplotlib.colormaps["tab20"]
        left = [0.0] * len(policies)
        for j, name in enumerate(names):
            shares = [next((r["share"] for r in sub if r["policy"] == p and r["name"] == name), 0.0)
                      for p in policies]
            ax.barh(policies, shares, left=left, label=name, color=colours(j % 20))
            left = [a + b for a, b in zip(left, shares)]
        ax.set(title=f"{env}: {kind} calls", xlabel="share of calls", xlim=(0, 1))
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    return save_figure(fig, path, record)


def main(argv: Sequence[str] | None = None, config: ToolUseConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_config(argv, ToolUseConfig(), __doc__)
    rows, record, paths = run_recorded("tool_use", config, run)
    png_path = plot(rows, config.out, record)
    md_path = result_path(config.out, ".md")
    md_path.write_text(markdown(rows))
    print(markdown(rows))
    print(f"wrote {', '.join(map(str, paths))}, {md_path}, {png_path} ({record.duration_s:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
