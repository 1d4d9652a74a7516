"""Do FRAMES' train and test splits differ in difficulty for the simulated pool?

The calibration is fitted on the train split and checked on the test split
(``benchmarks.fit_calibration``, ``benchmarks.reproduce_table1``). If the two splits were of
different difficulty under the same calibration, a fit on train would miss on test however well
it was done. This reads two recorded reproductions under the *same* calibration, one on each
split (``reproduce_table1 --split train``), and lays each FRAMES cell's accuracy side by side:
the difference per cell, with the 95% interval of a difference of two independent proportions,
and its mean over cells. No episode is run.

    python -m benchmarks.split_difficulty --train-from results/reproduce_table1_frames_train.json
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from benchmarks.common import RunConfig, parse_run_config, record_and_print


@dataclass
class SplitConfig(RunConfig):
    train_from: str = field(default="results/reproduce_table1_frames_train.json",
                            metadata={"help": "a reproduce_table1 run on the train split"})
    test_from: str = field(default="results/reproduce_table1.json", metadata={"help": "one on the test split"})
    benchmark: str = field(default="frames", metadata={"help": "the benchmark compared"})
    out: str = field(default="results/split_difficulty", metadata={"help": "output stem"})


def _cells(path: str, benchmark: str) -> tuple[dict[tuple[str, str], Mapping[str, Any]], Mapping[str, Any]]:
    data = json.loads(Path(path).read_text())
    return {(r["setting"], r["model"]): r for r in data["rows"] if r.get("benchmark") == benchmark}, data["record"]


WORLD_FILES = ("orchestra_env/experts/calibration.yaml", "orchestra_env/experts/fitted.yaml",
               "orchestra_env/data/catalogue.yaml")


def same_world(a: str, b: str) -> bool | None:
    """Whether commits ``a`` and ``b`` hold the same calibration and catalogue files (git blob
    ids; the simulator's code may differ, the commits say by how much); None where git cannot
    tell (no repository, unknown commit)."""
    import subprocess

    def blobs(commit: str) -> list[str] | None:
        out = subprocess.run(["git", "rev-parse", *(f"{commit}:{f}" for f in WORLD_FILES)],
                             capture_output=True, text=True)
        return out.stdout.split() if out.returncode == 0 else None

    x, y = blobs(a), blobs(b)
    return None if x is None or y is None else x == y


def run(config: SplitConfig) -> list[dict[str, Any]]:
    train, train_rec = _cells(config.train_from, config.benchmark)
    test, test_rec = _cells(config.test_from, config.benchmark)
    if train_rec["config"].get("split") != "train" or test_rec["config"].get("split", "test") != "test":
        raise ValueError(f"{config.train_from} must be a train-split run and {config.test_from} a test-split run")
    same = {"world": same_world(train_rec.get("git_commit", ""), test_rec.get("git_commit", ""))}
    rows = []
    for key in sorted(set(train) & set(test)):
        a, b = train[key], test[key]
        p, q = a["acc"] / 100, b["acc"] / 100
        se = 100 * math.sqrt(p * (1 - p) / a["n"] + q * (1 - q) / b["n"])
        d = a["acc"] - b["acc"]
        rows.append({"setting": key[0], "model": key[1], "published": a["published_acc"], "train_n": a["n"],
                     "train_acc": a["acc"], "test_n": b["n"], "test_acc": b["acc"], "diff": d,
                     "diff_lo": d - 1.96 * se, "diff_hi": d + 1.96 * se,
                     "train_commit": train_rec.get("git_commit", ""), "test_commit": test_rec.get("git_commit", ""),
                     **{f"same_{k}": v for k, v in same.items()}})
    if not rows:
        raise ValueError(f"no {config.benchmark} cells in both runs")
    return rows


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| setting | model | published % | train: n, accuracy % | test: n, accuracy % | train - test [95% CI] |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['setting']} | {r['model']} | {r['published']:.1f} | {r['train_n']}, {r['train_acc']:.1f} | "
                     f"{r['test_n']}, {r['test_acc']:.1f} | {r['diff']:+.1f} [{r['diff_lo']:+.1f}, {r['diff_hi']:+.1f}] |")
    d = np.array([r["diff"] for r in rows])
    outside = sum(1 for r in rows if r["diff_lo"] > 0 or r["diff_hi"] < 0)
    return "\n".join(lines) + (
        f"\n\nMean train - test over {len(rows)} cells: {d.mean():+.1f} points (sd {d.std(ddof=1):.1f}); "
        f"{outside} of {len(rows)} cells' intervals exclude zero (about {0.05 * len(rows):.0f} expected by chance). "
        f"Runs: train at commit {rows[0]['train_commit'][:10]}, test at {rows[0]['test_commit'][:10]}; "
        + {True: "the same calibration and catalogue files at both.", False: "their calibration or "
           "catalogue files DIFFER.", None: "git could not compare their calibration files."}[
            rows[0]["same_world"]])


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    config = parse_run_config(argv, SplitConfig(), __doc__)
    return record_and_print("split_difficulty", config, run, lambda rows: (
        f"{config.benchmark}: the same calibration on the train and the test split, cell by cell.\n\n" + markdown(rows)))


if __name__ == "__main__":
    main()
