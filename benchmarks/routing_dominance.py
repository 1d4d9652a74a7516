"""Does a trained router dominate Table 1's prompted orchestrators on FRAMES (higher accuracy at a
lower $ per task, 95% intervals not overlapping)?

The trained routers' rows come from a recorded routing run (``results/routing.json``: every
learner, preset and seed, on the whole FRAMES test split). The ``all_tools`` prompted
orchestrators of the reproduced Table 1 (and GPT-5 ``basic_tools``, the reference of Table 1's
cost ratios) are **run afresh** on the whole test split by default, so that this one command picks
up the current calibration of the prompted orchestrators' costs; ``--table1-from`` reuses the
rows of an earlier run instead (no new episodes).

    orchestra bench routing-dominance            # or: python -m benchmarks.routing_dominance
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from benchmarks.common import RunConfig, parse_run_config, record_and_print
from benchmarks.routing import RoutingConfig, dominance, table1_markdown, text_env


@dataclass
class DominanceConfig(RunConfig):
    learners_from: str = field(default="results/routing.json", metadata={"help": "a routing run with learners"})
    table1_from: str = field(default="", metadata={
        "help": "reuse the table1 rows of this routing/dominance run instead of running them (empty: run them)"})
    fit_tasks: int = field(default=40, metadata={"help": "train tasks of the Bayes router's evidence estimates"})
    out: str = field(default="results/routing_dominance", metadata={"help": "output stem"})


def run(config: DominanceConfig) -> list[dict[str, Any]]:
    learn = json.loads(Path(config.learners_from).read_text())
    learners = [{**r, "from_commit": r.get("commit") or learn["record"]["git_commit"]}  # kept rows: their own
                for r in learn["rows"] if "seed" in r]
    if config.table1_from:
        t1 = [r for r in json.loads(Path(config.table1_from).read_text())["rows"] if r["preset"] == "table1"]
    else:
        import torch

        from agents.bayes_router import fit_world
        from benchmarks.routing import table1_rows

        torch.set_num_threads(1)
        max_turns = int(learn["record"]["config"].get("max_turns", 4))
        fit_env = text_env("train", "cost-first", max_turns)
        world = fit_world(fit_env, config.fit_tasks, seed=10_000)
        fit_env.close()
        t1 = table1_rows(RoutingConfig(seed=config.seed, max_turns=max_turns), world)
    return learners + t1


def markdown(rows: Sequence[Mapping[str, Any]], config: DominanceConfig) -> str:
    t1 = [r for r in rows if r["preset"] == "table1"]
    learners = [r for r in rows if "seed" in r]
    commits = ", ".join(dict.fromkeys(str(r["from_commit"])[:10] for r in learners)) or "?"
    head = (f"Trained routers of `{config.learners_from}` (commit {commits}); "
            + (f"Table 1 rows from `{config.table1_from}`." if config.table1_from else "Table 1 rows run in this run.")
            + "\n\n")
    return head + "\n".join(table1_markdown(t1) + dominance(rows, t1)) + "\n"


def main(argv: Sequence[str] | None = None, config: DominanceConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_run_config(argv, DominanceConfig(), __doc__)
    return record_and_print("routing_dominance", config, run, lambda rows: markdown(rows, config))


if __name__ == "__main__":
    main()
