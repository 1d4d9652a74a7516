"""Fit the simulator's unpublished knobs to ToolOrchestra's Table 1 (the calibration target).

Writes ``orchestra_env/experts/fitted.yaml``, which ``Calibration.load()`` merges over
``calibration.yaml``. Fitting to the table is legitimate calibration, not a shortcut: the
fitted figures are knobs of the simulated world (a model's skill, its orchestrator's habits)
and every accuracy is still produced by running episodes in the env; the table is read only
to set the knobs, by this script, never by hand. What is fitted, to what:

* ``models.<M>.skill.tau2`` <- the paper's ``basic_tools`` tau2 accuracy of ``M`` (its only tau2
  figure without other models' help): ``M`` alone drives the domain tools, taking advice from
  itself. Accuracy rises with the skill, so bisection finds it.
* ``orchestrators.<M>.gather_mean`` <- the paper's ``basic_tools`` FRAMES accuracy of ``M``
  (how much evidence it gathers with its own searches and reasoning before answering).

Not fitted (predictions the reproduction checks): every HLE cell, every ``all_tools`` cell,
every cost and latency ratio.

    python -m benchmarks.fit_calibration              # ~ minutes on 2 cores
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from benchmarks import reproduce_table1 as rep

FITTED = Path(__file__).resolve().parents[1] / "orchestra_env" / "experts" / "fitted.yaml"


def _accuracy(bench: str, model: str, overlay: dict[str, Any], n: int, seed: int, hle: str) -> float:
    from importlib import resources

    from orchestra_env.experts.simulated import deep_merge

    base = yaml.safe_load(resources.files("orchestra_env.experts").joinpath("calibration.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calibration.yaml"
        path.write_text(yaml.safe_dump(deep_merge(base, overlay)))
        config = rep.ReproduceConfig(n=n, seed=seed, progress=False,
                                     experts={"default": {"backend": "simulated", "calibration": str(path)}})
        episodes = rep.run_cell(bench, "basic_tools", model, config, hle)
    return 100.0 * sum(episodes["correct"]) / len(episodes["correct"])


def bisect(f: Callable[[float], float], target: float, lo: float, hi: float, steps: int) -> float:
    """x in [lo, hi] with f(x) ~ target for an increasing f (noisy: a fixed number of steps)."""
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return round((lo + hi) / 2, 4)


def fit(models: Sequence[str], n: int, seed: int, steps: int) -> dict[str, Any]:
    pub = rep.published()
    overlay: dict[str, Any] = {"models": {}, "orchestrators": {}}
    for paper_model in models:
        model = rep.MODELS[paper_model]
        target = pub[("basic_tools", paper_model)]
        tau2 = bisect(lambda x: _accuracy("tau2", paper_model, {"models": {model: {"skill": {"tau2": x}}}},
                                          n, seed, ""), float(target["tau2"]), 0.01, 0.99, steps)
        overlay["models"][model] = {"skill": {"tau2": tau2}}
        gather = bisect(lambda x: _accuracy("frames", paper_model, {"orchestrators": {model: {"gather_mean": x}}},
                                            n, seed, ""), float(target["frames"]), 0.0, 8.0, steps)
        overlay["orchestrators"][model] = {"gather_mean": gather}
        print(f"{paper_model}: tau2 skill {tau2}, gather_mean {gather}", flush=True)
    return overlay


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="tasks per benchmark (default: whole splits)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=7, help="bisection steps per knob")
    parser.add_argument("--models", nargs="*", default=list(rep.MODELS))
    parser.add_argument("--out", default=str(FITTED))
    args = parser.parse_args(argv)
    if Path(args.out).exists():
        Path(args.out).unlink()  # fit from calibration.yaml alone, never from an earlier fit
    overlay = fit(args.models, args.n, args.seed, args.steps)
    header = (f"# WRITTEN BY benchmarks/fit_calibration.py (do not edit by hand): seed {args.seed}, n {args.n}, "
              f"{args.steps} bisection steps.\n# Fitted to ToolOrchestra Table 1 (orchestra_env/data/toolorchestra/"
              "table1.csv): models.*.skill.tau2 to each model's basic_tools tau2\n# accuracy, orchestrators.*."
              "gather_mean to its basic_tools FRAMES accuracy. Merged over calibration.yaml by Calibration.load().\n")
    Path(args.out).write_text(header + yaml.safe_dump(overlay, sort_keys=True))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
