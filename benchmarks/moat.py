"""MOAT (2 iterations) vs the same planner/executor trained apart vs a single agent.

    python -m benchmarks.moat [--seeds 0 1 2] [--iterations 2] [--out results/moat]

Per seed: one warmed tiny base (shared by the three methods), then
  moat         agents.multi_agent.moat.train: iter0 (each role SFT apart) + 2 x (planner DPO on
               the executor's gold loss, executor SFT on env-critic-corrected samples + grounding)
  independent  iter0 + 2 grounding-only SFT epochs per role (agents.multi_agent.moat_baselines)
  single       one adapter request -> actions, as many SFT epochs on the same gold actions
and every method is evaluated on held-in tasks (the training domains' test split: unseen users
and records) and held-out tasks (an unseen ToolScale domain and tau2 airline). MOAT is also
evaluated after iter0 and iteration 1 (the per-iteration curve). Metrics: task success (env
reward), step success (gold actions matched), the executor's gold log-perplexity given the
planner's sampled subgoals (MOAT's objective; for single, given no subgoals), $ and s per
episode. ``results/moat.md`` gives means over seeds with 95% t-intervals (n = seeds) and the
pooled episode count.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks.common import BenchConfig, markdown_table, result_path, run_recorded

METRICS = ("task_success", "step_success", "gold_nll", "cost_usd", "seconds")
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


@dataclass
class MoatBench(BenchConfig):
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    iterations: int = 2
    train: list[str] = field(default_factory=lambda: ["toolscale:bank:train:6", "toolscale:restaurant:train:6"])
    held_in: list[str] = field(default_factory=lambda: ["toolscale:bank:test:3", "toolscale:restaurant:test:3"])
    held_out: list[str] = field(default_factory=lambda: ["toolscale:movie:test:3", "tau2:airline:all:3"])
    k: int = 15
    base_epochs: float = 6.0
    base_lr: float = 3e-3
    grounding_epochs: float = 2.0
    grounding_lr: float = 3e-3
    sft_lr: float = 3e-3
    dpo_lr: float = 1e-3
    min_gap: float = 0.01
    batch_size: int = 2
    constrained: bool = True  # evaluation calls through the constrained call decoder (agents/multi_agent/decoding.py)
    workdir: str = ""
    out: str = "results/moat"

    def recorded(self) -> dict[str, Any]:
        """The fields that decide the result (not BenchConfig's env/policy lists, unused here)."""
        return {k: v for k, v in asdict(self).items()
                if k not in ("out", "progress", "experts", "workdir", "n", "envs", "policies")}


def moat_config(b: MoatBench, seed: int, out_dir: str) -> Any:
    from agents.multi_agent.moat import MoatConfig

    return MoatConfig(out_dir=out_dir, seed=seed, iterations=b.iterations, train=tuple(b.train),
                      held_in=tuple(b.held_in), held_out=tuple(b.held_out), k=b.k, base_epochs=b.base_epochs,
                      base_lr=b.base_lr, grounding_epochs=b.grounding_epochs, grounding_lr=b.grounding_lr,
                      sft_lr=b.sft_lr, dpo_lr=b.dpo_lr, min_gap=b.min_gap, batch_size=b.batch_size,
                      constrained=b.constrained)


def run_seed(b: MoatBench, seed: int, workdir: Path) -> list[dict[str, Any]]:
    from agents.multi_agent import moat, moat_baselines
    from agents.multi_agent.moat_data import load_tasks

    config = moat_config(b, seed, str(workdir / f"seed{seed}"))
    run = moat.train(config, log=lambda s: print(s[:300], flush=True), evaluate_each=True)
    rows = []
    for stage, stats in run.state["stats"].items():
        if "eval" in stats:
            it = 0 if stage == "iter0" else int(stage.split("/")[0][4:])
            method = "moat" if it == b.iterations else f"moat@iter{it}"
            if it == 0:
                method = "moat@iter0 (=independent iter0)"
            for split, m in stats["eval"].items():
                rows.append({"method": method, "iteration": it, "split": split, "seed": seed, **m})
    tasks = load_tasks(config.train)
    evals = {"held_in": load_tasks(config.held_in), "held_out": load_tasks(config.held_out)}
    moat_baselines.train_independent(run, tasks)
    roles = moat_baselines.independent_roles(run)
    for split, ts in evals.items():
        rows.append({"method": "independent", "iteration": b.iterations, "split": split, "seed": seed,
                     **moat.evaluate(roles, ts, seed=seed, constrained=b.constrained)})
    moat_baselines.train_single(run, tasks)
    for split, ts in evals.items():
        rows.append({"method": "single", "iteration": b.iterations, "split": split, "seed": seed,
                     **moat_baselines.evaluate_single(run, ts, seed, constrained=b.constrained)})
    return rows


def run_all(b: MoatBench) -> list[dict[str, Any]]:
    workdir = Path(b.workdir) if b.workdir else Path(tempfile.mkdtemp(prefix="moat-bench-"))
    rows: list[dict[str, Any]] = []
    try:
        for seed in b.seeds:
            rows += run_seed(b, seed, workdir)
    finally:
        if not b.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return rows


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean over seeds and a 95% t-interval half-width (n = seeds) per method x split."""
    out = []
    keys = sorted({(r["split"], r["iteration"], r["method"]) for r in rows}, key=lambda k: (k[0], k[2] != "moat", k[1], k[2]))
    for split, it, method in keys:
        group = [r for r in rows if (r["split"], r["iteration"], r["method"]) == (split, it, method)]
        row: dict[str, Any] = {"split": split, "method": method, "seeds": len(group),
                               "episodes": sum(r["n"] for r in group)}
        for m in METRICS:
            vals = [float(r[m]) for r in group]
            mean = statistics.fmean(vals)
            half = T95.get(len(vals) - 1, 1.96) * statistics.stdev(vals) / math.sqrt(len(vals)) if len(vals) > 1 else float("nan")
            row[m] = f"{mean:.4g} ± {half:.2g}"
        out.append(row)
    return out


def paired(rows: list[dict[str, Any]], metric: str, baseline: str = "independent") -> list[dict[str, Any]]:
    """Per split and method, the mean over seeds of (method - baseline) on the same seed, with a
    95% t-interval: the seeds share a base, so pairing removes the base-to-base spread."""
    out = []
    for split in sorted({r["split"] for r in rows}):
        base = {r["seed"]: float(r[metric]) for r in rows if r["split"] == split and r["method"] == baseline}
        for method in sorted({r["method"] for r in rows} - {baseline}):
            diffs = [float(r[metric]) - base[r["seed"]] for r in rows
                     if r["split"] == split and r["method"] == method and r["seed"] in base]
            if not diffs:
                continue
            mean = statistics.fmean(diffs)
            half = (T95.get(len(diffs) - 1, 1.96) * statistics.stdev(diffs) / math.sqrt(len(diffs))
                    if len(diffs) > 1 else float("nan"))
            out.append({"split": split, "method": method, "seeds": len(diffs),
                        f"{metric} - {baseline}": f"{mean:+.4g} ± {half:.2g}",
                        "wins": f"{sum(d < 0 for d in diffs) if metric == 'gold_nll' else sum(d > 0 for d in diffs)}/{len(diffs)}"})
    return out


def write_markdown(b: MoatBench, rows: list[dict[str, Any]], record: Any) -> Path:
    path = result_path(b.out, ".md")
    table = markdown_table(summary(rows), ["split", "method", "seeds", "episodes", *METRICS])
    config = b.recorded()
    path.write_text(
        "# MOAT vs independent training vs a single agent\n\n"
        f"Written by `{record.command}` (commit {record.git_commit}, dirty={record.git_dirty}, "
        f"{record.duration_s:.0f} s of wall-clock, summed over parts run in parallel). Means over seeds ± 95% t-interval half-widths (n = seeds); "
        "`episodes` pools seeds x tasks. Tiny random-weight Qwen3 base warmed up on the training "
        "tasks, LoRA roles; see docs/moat.md for the split and what these numbers can and cannot say.\n\n"
        f"{table}\n"
        "Paired by seed, against the independently trained planner/executor (gold_nll: lower is "
        "better, a win is a lower loss; step_success: a win is higher):\n\n"
        f"{markdown_table(paired(rows, 'gold_nll'))}\n"
        f"{markdown_table(paired(rows, 'step_success'))}\n"
        f"{markdown_table(paired(rows, 'task_success'))}\n"
        f"Config: `{json.dumps(config)}`\n")
    return path


def merge(parts: list[str], out: str) -> int:
    """One result from runs that each did some seeds with otherwise identical settings."""
    from benchmarks.common import RunRecord, read_result, write_result

    results = [read_result(p) for p in parts]
    configs = [{k: v for k, v in r["record"]["config"].items() if k not in ("seeds", "seed")} for r in results]
    if any(c != configs[0] for c in configs):
        raise ValueError("--merge: the parts were run with different settings")
    rows = [row for r in results for row in r["rows"]]
    record = dict(results[0]["record"])
    seeds = sorted({row["seed"] for row in rows})
    record["config"] = {**record["config"], "seeds": seeds, "seed": seeds[0]}
    record["seed"] = seeds[0]
    record["duration_s"] = round(sum(r["record"]["duration_s"] for r in results), 2)
    record["command"] = "benchmarks/moat.py --merge " + " ".join(parts)
    commits = {r["record"]["git_commit"] for r in results}
    if len(commits) != 1:
        raise ValueError(f"--merge: the parts come from different commits {sorted(map(str, commits))}")
    rec = RunRecord(**record)
    write_result(out, rows, rec)
    b = replace(MoatBench(), **{k: v for k, v in record["config"].items() if k in asdict(MoatBench())}, out=out)
    print(write_markdown(b, rows, rec).read_text())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    d = MoatBench()
    parser.add_argument("--seeds", type=int, nargs="+", default=d.seeds)
    parser.add_argument("--iterations", type=int, default=d.iterations)
    parser.add_argument("--k", type=int, default=d.k)
    parser.add_argument("--train", nargs="+", default=d.train)
    parser.add_argument("--held-in", nargs="+", default=d.held_in)
    parser.add_argument("--held-out", nargs="+", default=d.held_out)
    parser.add_argument("--workdir", default="", help="keep the adapters here (default: a temp dir, removed)")
    parser.add_argument("--out", default=d.out)
    parser.add_argument("--render", action="store_true", help="only rewrite <out>.md from <out>.json")
    parser.add_argument("--merge", nargs="+", metavar="RESULT",
                        help="combine per-seed results (runs of --seeds S, e.g. in parallel) into <out>")
    args = parser.parse_args(argv)
    b = replace(d, seeds=args.seeds, iterations=args.iterations, k=args.k, train=args.train, held_in=args.held_in,
                held_out=args.held_out, workdir=args.workdir, out=args.out, seed=args.seeds[0])
    if args.merge:
        return merge(args.merge, args.out)
    if args.render:
        from types import SimpleNamespace

        from benchmarks.common import read_result

        result = read_result(args.out)
        b = replace(b, **{k: v for k, v in result["record"]["config"].items() if k in asdict(b)})
        print(write_markdown(b, result["rows"], SimpleNamespace(**result["record"])).read_text())
        return 0
    from agents.multi_agent.moat import set_threads

    set_threads(1)
    rows, record, paths = run_recorded("moat", b, run_all)
    md = write_markdown(b, rows, record)
    print(md.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
