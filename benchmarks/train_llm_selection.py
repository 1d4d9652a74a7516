"""Which GRPO settings of ``train_llm_policy`` were chosen, and on what: its validation runs side by side.

``python -m benchmarks.train_llm_policy --select-on val`` trains on three quarters of the FRAMES
train split and scores on the held-out quarter; one run per candidate setting. This reads those
recorded runs (no new episodes) and writes one table: each run's GRPO learning rate and KL
coefficient, its commit, the SFT and SFT+GRPO rows and the paired SFT+GRPO - SFT gain with its
interval and whether it exceeds the seed spread. The setting whose SFT+GRPO policy scores highest
on the validation slice is the one ``TrainLLMConfig`` ships (not the largest gain: runs may differ
in their SFT stage, and a weaker start leaves more to gain); the test split is read only by the
final run.

    python -m benchmarks.train_llm_selection          # --runs A.json B.json ...: other runs
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from benchmarks.common import RunConfig, parse_run_config, record_and_print
from benchmarks.train_llm_policy import gains, summary


@dataclass
class SelectionConfig(RunConfig):
    runs: list[str] = field(default_factory=lambda: sorted(str(p) for p in Path("results/train_llm_policy_val").glob("*.json")),
                            metadata={"help": "recorded train_llm_policy runs with --select-on val"})
    out: str = field(default="results/train_llm_selection", metadata={"help": "output stem"})


def run(config: SelectionConfig) -> list[dict[str, Any]]:
    rows = []
    for path in config.runs:
        data = json.loads(Path(path).read_text())
        record, c = data["record"], data["record"]["config"]
        if c.get("select_on") != "val":
            raise ValueError(f"{path}: not a validation run (select_on={c.get('select_on')!r}); it would read the test split")
        by = {s["policy"]: s for s in summary(data["rows"])}
        gain = next(g for g in gains(data["rows"]) if g["row"] == "sft+grpo")
        rows.append({"run": Path(path).stem, "grpo_lr": c["grpo_lr"], "grpo_kl": c["grpo_kl"],
                     "grpo_updates": c["grpo_updates"], "grpo_tasks": c["grpo_tasks"], "sft_epochs": c["sft_epochs"], "seeds": by["sft"]["seeds"], "n": by["sft"]["n"],
                     "commit": record["git_commit"][:10] + (" (dirty)" if record["git_dirty"] else ""),
                     "sft": by["sft"]["reward_mean"], "sft+grpo": by["sft+grpo"]["reward_mean"],
                     "gain": gain["mean"], "gain_std": gain["std"], "gain_lo": gain["paired_lo"],
                     "gain_hi": gain["paired_hi"], "seed_spread": gain["seed_spread"],
                     "valid_sft": by["sft"]["valid_share"], "valid_grpo": by["sft+grpo"]["valid_share"]})
    best = max(rows, key=lambda r: r["sft+grpo"])  # the policy a user gets; runs may differ in their SFT
    for r in rows:
        r["chosen"] = r is best
    return rows


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| run | GRPO lr | KL | GRPO updates x tasks | SFT epochs | seeds x tasks | SFT | SFT+GRPO | gain ± std over "
             "seeds [95% CI, paired] | > seed spread? | well-formed % (SFT → +GRPO) | commit |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    for r in sorted(rows, key=lambda r: (-r["grpo_lr"], r["grpo_kl"], r["grpo_updates"] * r["grpo_tasks"], r["sft_epochs"])):
        mark = " **(chosen)**" if r["chosen"] else ""
        lines.append(f"| {r['run']}{mark} | {r['grpo_lr']:g} | {r['grpo_kl']:g} | {r['grpo_updates']} x {r['grpo_tasks']} | "
                     f"{r['sft_epochs']:g} | {r['seeds']} x {r['n']} | "
                     f"{r['sft']:.3f} | {r['sft+grpo']:.3f} | {r['gain']:+.3f} ± {r['gain_std']:.3f} "
                     f"[{r['gain_lo']:+.3f}, {r['gain_hi']:+.3f}] | {'yes' if r['gain'] > r['seed_spread'] else 'no'} "
                     f"({r['seed_spread']:.3f}) | {100 * r['valid_sft']:.0f} → {100 * r['valid_grpo']:.0f} | "
                     f"{r['commit']} |")
    return "\n".join(lines) + ("\n\nScored on the validation quarter of FRAMES' train split (SFT and GRPO drew from "
                               "the other three quarters); the chosen run's SFT+GRPO policy scores highest, by its point estimate "
                               "(a decision rule, not a claim that it is better: runs within a few hundredths share most "
                               "of their 64-task intervals). A run marked "
                               "dirty ran with uncommitted changes (the same code as the commit that followed).")


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    config = parse_run_config(argv, SelectionConfig(), __doc__)
    return record_and_print("train_llm_selection", config, run, lambda rows: (
        "GRPO settings of `train_llm_policy`, chosen on a validation slice of the train split.\n\n" + markdown(rows)))


if __name__ == "__main__":
    main()
