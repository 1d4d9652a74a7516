"""What QA experts are shown, and what that does to Table 1's FRAMES cells.

ToolOrchestra's evaluation harness sends an expert every document its searches retrieved (a
search keeps its top 150), in full, up to a per-model context budget; our default shows the
newest tool outputs up to a character cap (``QAEnv(expert_context=...)``, "evidence" vs
"documents"). This runs the same FRAMES cells of Table 1 under both and reports, per cell, the
input tokens of one expert call, the accuracy and the cost ratio to GPT-5 ``basic_tools`` in the
same mode. The shipped calibration is fitted under "evidence", so the "documents" rows show how
far an unrefitted world moves, not a calibrated one.

    python -m benchmarks.expert_context            # FRAMES test split, every task
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from benchmarks.common import BenchConfig, parse_config, progress, record_and_print
from benchmarks.stats import bootstrap_mean, wilson
from orchestra_env.envs.qa import EXPERT_CONTEXTS

MODES = EXPERT_CONTEXTS  # every mode QAEnv offers
CELLS = ("basic_tools:GPT-5", "all_tools:GPT-5", "all_tools:Qwen3-8B", "all_tools:Claude-Opus-4.1")
REFERENCE = "basic_tools:GPT-5"
EXPERT_ROLES = ("search", "reasoner", "answer")


@dataclass
class ExpertContextConfig(BenchConfig):
    n: int = 100_000  # FRAMES test tasks (capped at the split: 168)
    modes: list[str] = field(default_factory=lambda: list(MODES))
    cells: list[str] = field(default_factory=lambda: list(CELLS))
    out: str = "results/expert_context"

    def __post_init__(self) -> None:
        bad = sorted(set(self.modes) - set(MODES)) + sorted(set(self.cells) - set(CELLS))
        if bad:
            raise ValueError(f"unknown modes/cells {bad}; choose from {MODES} / {CELLS}")
        if REFERENCE not in self.cells:
            raise ValueError(f"the cost ratios need the reference cell {REFERENCE}")


def run(config: ExpertContextConfig) -> list[dict[str, Any]]:
    from benchmarks import reproduce_table1 as rep

    rows = []
    for mode in config.modes:
        cells: dict[str, dict[str, Any]] = {}
        for cell in progress(config.cells, f"expert_context ({mode})", config.progress):
            setting, model = cell.split(":")
            tokens: dict[str, list[int]] = defaultdict(list)

            def observe(request: Any, response: Any) -> None:
                if request.role in EXPERT_ROLES:
                    tokens[request.role].append(int(response.tokens_in))

            cfg = rep.ReproduceConfig(n=config.n, seed=config.seed, progress=False, experts=config.experts,
                                      expert_context=mode)
            episodes = rep.run_cell("frames", setting, model, cfg, "", observe=observe)
            cells[cell] = {"episodes": episodes, "tokens": dict(tokens)}
        reference = float(np.mean(cells[REFERENCE]["episodes"]["cost_usd"]))
        for cell, got in cells.items():
            correct, cost = got["episodes"]["correct"], got["episodes"]["cost_usd"]
            calls = [t for role in EXPERT_ROLES for t in got["tokens"].get(role, [])]
            ratio = bootstrap_mean([c / reference for c in cost], seed=config.seed)
            rows.append({"mode": mode, "cell": cell, "n": len(correct),
                         **wilson(sum(correct), len(correct)).as_dict("accuracy"),
                         "cost_usd": float(np.mean(cost)), **ratio.as_dict("cost_ratio"),
                         "expert_calls_per_task": len(calls) / max(1, len(correct)),
                         "expert_tokens_in": float(np.mean(calls)) if calls else 0.0,
                         "expert_tokens_in_max": int(max(calls)) if calls else 0})
    return rows


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| experts shown | cell | n | accuracy % [95% CI] | $ per task | cost ratio to GPT-5 basic_tools [95% CI] "
             "| expert calls per task | input tokens per expert call (mean, max) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['cell']} | {r['n']} | {100 * r['accuracy']:.1f} "
                     f"[{100 * r['accuracy_lo']:.1f}, {100 * r['accuracy_hi']:.1f}] | {r['cost_usd']:.4f} "
                     f"| {r['cost_ratio']:.2f} [{r['cost_ratio_lo']:.2f}, {r['cost_ratio_hi']:.2f}] "
                     f"| {r['expert_calls_per_task']:.1f} | {r['expert_tokens_in']:.0f}, {r['expert_tokens_in_max']} |")
    lines += ["", "Both modes run under the shipped calibration, which is fitted under `evidence`; the `documents` "
              "rows are an unrefitted world (experts read more, so they also find the gold answer more often)."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, config: ExpertContextConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_config(argv, ExpertContextConfig(), __doc__)
    return record_and_print("expert_context", config, run, markdown)


if __name__ == "__main__":
    main()
