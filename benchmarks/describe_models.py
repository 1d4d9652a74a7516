"""Capability descriptions of every catalogue model, measured with the simulated pool.

    python -m benchmarks.describe_models [--n 100] [--out results/describe_models]

Runs :mod:`orchestra_env.experts.describe` (the ``orchestra describe-models`` logic) on a
seeded sample of FRAMES questions and the HLE fixture (HLE itself is not shipped), writes
one row per (model, benchmark) with n, accuracy, its 95% Wilson interval, mean cost and
latency per call, ``<out>.md`` (the table docs/toolscale.md includes) and the described
catalogue ``<out>_catalogue.yaml``. With the simulated
pool the figures reproduce its calibration (``experts/calibration.yaml``), not real models.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import HLE_FIXTURE, SIMULATED_EXPERTS, markdown_table, run_recorded


@dataclass
class DescribeConfig:
    seed: int = 0
    n: int = 100
    benchmarks: list[str] = field(default_factory=lambda: ["frames", "hle"])
    out: str = "results/describe_models"
    experts: dict[str, Any] = field(default_factory=lambda: dict(SIMULATED_EXPERTS))

    def recorded(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("out", "experts")}


def run(config: DescribeConfig) -> list[dict[str, Any]]:
    from orchestra_env.experts.describe import describe, load_benchmark, measure, sample_tasks, write_catalogue
    from orchestra_env.experts.pool import ExpertPool
    from orchestra_env.usage import Catalogue

    tasks = {b: sample_tasks(load_benchmark(b, str(HLE_FIXTURE)), config.n, config.seed, b) for b in config.benchmarks}
    reports = measure(ExpertPool.from_config(config.experts), Catalogue.default(), tasks, seed=config.seed)
    rows = []
    for model, report in reports.items():
        report.description = describe(report)
        for benchmark, figures in report.benchmarks.items():
            s = figures.summary()
            rows.append({"model": model, "benchmark": benchmark, "n": s["n"], "accuracy": s["accuracy"],
                         "ci95_low": s["ci95"][0], "ci95_high": s["ci95"][1],
                         "cost_usd_per_call": s["cost_usd_per_call"], "latency_s_per_call": s["latency_s_per_call"],
                         "description": report.description})
    write_catalogue(None, {m: r.description for m, r in reports.items()}, Path(f"{config.out}_catalogue.yaml"))
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """One line per model: per benchmark n, accuracy [95% CI], $ and s per call; then the
    first model's description as the policy reads it."""
    benchmarks = list(dict.fromkeys(r["benchmark"] for r in rows))
    table: dict[str, dict[str, Any]] = {}
    for r in rows:
        line = table.setdefault(r["model"], {"model": r["model"]})
        b = r["benchmark"]
        line[f"{b} n"] = r["n"]
        line[f"{b} acc [95% CI]"] = f"{r['accuracy']:.2f} [{r['ci95_low']:.2f}, {r['ci95_high']:.2f}]"
        line[f"{b} $/call"] = f"{r['cost_usd_per_call']:.4f}"
        line[f"{b} s/call"] = f"{r['latency_s_per_call']:.1f}"
    columns = ["model"] + [f"{b} {c}" for b in benchmarks for c in ("n", "acc [95% CI]", "$/call", "s/call")]
    first = rows[0] if rows else None
    said = f'\n{first["model"]}\'s description, as the policy reads it: "{first["description"]}"\n' if first else ""
    return markdown_table(list(table.values()), columns) + said


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=DescribeConfig.n)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=DescribeConfig.out)
    args = parser.parse_args(argv)
    rows, _, paths = run_recorded("describe_models", DescribeConfig(seed=args.seed, n=args.n, out=args.out), run,
                                markdown=markdown)
    for r in rows:
        print(f"{r['model']:18s} {r['benchmark']:6s} n={r['n']:3d} acc={r['accuracy']:.2f} "
              f"[{r['ci95_low']:.2f}, {r['ci95_high']:.2f}] ${r['cost_usd_per_call']:.4f} {r['latency_s_per_call']:.1f}s")
    print("wrote", *paths)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
