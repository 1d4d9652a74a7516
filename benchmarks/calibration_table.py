"""The calibration in force, as a table: every model's skills with the source of each figure.

Reads ``calibration.yaml`` (published figures and guesses, each with a source key) and
``fitted.yaml`` (figures written by ``benchmarks/fit_calibration.py``) and writes
``results/calibration_table.md``, which docs/experts.md includes: the table can never disagree
with the files the simulator loads.

    python -m benchmarks.calibration_table
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any, Mapping, Sequence

import yaml

from benchmarks.common import BenchConfig, parse_config, run_recorded

BENCHES = ("frames", "hle", "tau2", "toolscale")


@dataclass
class CalibrationTableConfig(BenchConfig):
    out: str = "results/calibration_table"


def _yaml(name: str) -> dict[str, Any]:
    path = resources.files("orchestra_env.experts").joinpath(name)
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def run(config: CalibrationTableConfig) -> list[dict[str, Any]]:
    from orchestra_env.experts.simulated import Calibration

    raw, fitted = _yaml("calibration.yaml"), _yaml("fitted.yaml")
    calibration = Calibration.load()
    rows = []
    for name, card in calibration.cards.items():
        sources = (raw["models"][name].get("source") or {})
        fit = (fitted.get("models", {}).get(name, {}).get("skill") or {})
        row: dict[str, Any] = {"model": name, "query_skill": card.query_skill,
                               "thinking_tokens": card.thinking_tokens, "latency_s": card.latency_s}
        for bench in BENCHES:
            row[bench] = card.skill.get(bench)
            row[f"{bench}_source"] = "fitted" if bench in fit else str(sources.get(bench, "guess"))
        rows.append(row)
    return rows


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    def cell(r: Mapping[str, Any], bench: str) -> str:
        value, source = r[bench], r[f"{bench}_source"]
        if value is None:
            return "-"
        if source == "fitted":
            return f"*{value:.3f}* (F)"
        if source == "guess":
            return f"{value:.3f}"
        return f"**{value:.3f}** ({source})"

    lines = ["| model | FRAMES | HLE | tau2 (per step) | ToolScale (per step) | query skill |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | " + " | ".join(cell(r, b) for b in BENCHES) + f" | {r['query_skill']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, config: CalibrationTableConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_config(argv, CalibrationTableConfig(), __doc__)
    rows, _, paths = run_recorded("calibration_table", config, run, markdown=markdown)
    print(markdown(rows))
    print(f"wrote {', '.join(map(str, paths))}")
    return rows


if __name__ == "__main__":
    main()
