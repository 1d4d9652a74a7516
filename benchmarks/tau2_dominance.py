"""Can any policy dominate Table 1's ``all_tools`` prompted orchestrators on tau2, given the world and the data?

The routing goal asks a trained policy's (accuracy, $) point to beat every ``all_tools`` row
with 95% intervals apart on both. On tau2 this is limited twice, before any training:

* **data**: the pooled tau2 test set has ``n`` tasks (airline and retail test splits and
  telecom's 20-task set, 80 in all), so a policy's Wilson interval can only sit above a row's
  if its accuracy reaches :func:`needed_accuracy` (the smallest ``k / n`` whose interval's low
  end clears the row's high end);
* **world**: the best points the calibrated world is known to reach at a low cost are the
  adviser policies of ``benchmarks.tau2_frontier`` (a policy that never sees the verdicts can
  follow them), and the best ``all_tools`` orchestrators themselves.

This reads two recorded runs and runs no episode: the reproduced Table 1
(``results/reproduce_table1.json``, its tau2 ``all_tools`` rows) and the adviser frontier
(``results/tau2_frontier.json``). Per row: the accuracy a dominating point would need at this
``n``, the best adviser point with a lower cost ratio, and whether any adviser point dominates
(as a point, and with intervals apart).

    python -m benchmarks.tau2_dominance --out results/tau2_dominance
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from benchmarks.common import RunConfig, parse_run_config, record_and_print
from benchmarks.stats import wilson
from benchmarks.tau2_frontier import PUBLISHED


@dataclass
class Tau2DominanceConfig(RunConfig):
    table1_from: str = field(default="results/reproduce_table1.json", metadata={"help": "a reproduce_table1 run"})
    frontier_from: str = field(default="results/tau2_frontier.json", metadata={"help": "a tau2_frontier run"})
    out: str = field(default="results/tau2_dominance", metadata={"help": "output stem"})


def needed_accuracy(n: int, above: float) -> float | None:
    """The smallest accuracy ``k / n`` (in %) whose 95% Wilson interval's low end exceeds
    ``above`` (in %); None if even ``n / n`` does not."""
    for k in range(n + 1):
        if 100 * wilson(k, n).low > above:
            return 100 * k / n
    return None


def _load(path: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    data = json.loads(Path(path).read_text())
    return data["rows"], data.get("record", {})


def run(config: Tau2DominanceConfig) -> list[dict[str, Any]]:
    table1, t1_record = _load(config.table1_from)
    frontier, fr_record = _load(config.frontier_from)
    prompted = [r for r in table1 if r["benchmark"] == "tau2" and r["setting"] == "all_tools"]
    if not prompted or not frontier:
        raise ValueError(f"{config.table1_from} has no tau2 all_tools rows or {config.frontier_from} no rows")
    sources = {"table1_commit": t1_record.get("git_commit", ""), "frontier_commit": fr_record.get("git_commit", "")}
    rows = []
    for p in prompted:
        cheaper = [f for f in frontier if f["cost_ratio"] < p["cost_ratio"]]
        best = max(cheaper, key=lambda f: f["accuracy"], default=None)
        point = [f["policy"] for f in cheaper if f["accuracy"] > p["acc"]]
        apart = [f["policy"] for f in frontier if f["acc_lo"] > p["acc_hi"] and f["ratio_hi"] < p["cost_ratio_lo"]]
        rows.append({"model": p["model"], "n": p["n"], "accuracy": p["acc"], "acc_lo": p["acc_lo"],
                     "acc_hi": p["acc_hi"], "cost_ratio": p["cost_ratio"],
                     "needed_accuracy": needed_accuracy(p["n"], p["acc_hi"]),
                     "best_cheaper_policy": best["policy"] if best else "",
                     "best_cheaper_accuracy": best["accuracy"] if best else None,
                     "best_cheaper_acc_hi": best["acc_hi"] if best else None,
                     "best_cheaper_ratio": best["cost_ratio"] if best else None,
                     "dominated_by_point": point, "dominated_apart": apart, **sources})
    return rows


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| all_tools orchestrator | n | accuracy % [95% CI] | cost ratio | accuracy a dominating point needs "
             "(intervals apart, same n) | best adviser point at a lower cost ratio: accuracy % [CI top], ratio | "
             "adviser points dominating it (point) | ... intervals apart |",
             "|---|---:|---:|---:|---:|---|---|---|"]
    for r in rows:
        need = "unreachable" if r["needed_accuracy"] is None else f"{r['needed_accuracy']:.1f}"
        best = (f"{r['best_cheaper_policy']}: {r['best_cheaper_accuracy']:.1f} [{r['best_cheaper_acc_hi']:.1f}], "
                f"{r['best_cheaper_ratio']:.2f}" if r["best_cheaper_policy"] else "none")
        lines.append(f"| {r['model']} | {r['n']} | {r['accuracy']:.1f} [{r['acc_lo']:.1f}, {r['acc_hi']:.1f}] | "
                     f"{r['cost_ratio']:.2f} | {need} | {best} | {', '.join(r['dominated_by_point']) or 'none'} | "
                     f"{', '.join(r['dominated_apart']) or 'none'} |")
    hardest = max(rows, key=lambda r: r["needed_accuracy"] or 101.0)
    top = max((r["best_cheaper_acc_hi"] or 0.0) for r in rows)
    need = "more than 100" if hardest["needed_accuracy"] is None else f"{hardest['needed_accuracy']:.1f}"
    lines += ["", f"To dominate every row with intervals apart at n={hardest['n']}, a policy needs "
              f"{need}% accuracy (against {hardest['model']}'s {hardest['accuracy']:.1f}%); "
              f"the highest interval top of any adviser point cheaper than a row is {top:.1f}%, and ToolOrchestra's "
              f"published Orchestrator-8B row is {PUBLISHED['accuracy']:.1f}%. "
              "Cost ratios are to GPT-5 basic_tools in each run; adviser rows and Table 1 rows come from separate runs "
              f"(commits {rows[0]['frontier_commit'][:10]} and {rows[0]['table1_commit'][:10]})."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    config = parse_run_config(argv, Tau2DominanceConfig(), __doc__)
    return record_and_print("tau2_dominance", config, run, lambda rows: (
        "tau2 (pooled test set): can any point dominate the all_tools prompted orchestrators of the reproduced "
        "Table 1 with 95% intervals apart? Read from recorded runs, no new episodes.\n\n" + markdown(rows)))


if __name__ == "__main__":
    main()
