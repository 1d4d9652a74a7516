"""Fit the simulator's unpublished knobs to ToolOrchestra's Table 1 (the calibration target).

Writes ``orchestra_env/experts/fitted.yaml``, which ``Calibration.load()`` merges over
``calibration.yaml``. Fitting to the table is legitimate calibration, not a shortcut: the
fitted figures are knobs of the simulated world (a model's skill, its orchestrator's habits,
how many tokens it bills, how long it takes) and every accuracy, cost and latency is still
produced by running episodes in the env; the table is read only to set the knobs, by this
script, never by hand. Three stages, in this order; what is fitted, to what:

``tau2``, ``basic``, ``experts`` (bisection: accuracy rises with each knob)
  * (``tau2``) ``models.<M>.skill.tau2`` <- ``M``'s ``basic_tools`` tau2 accuracy (its only tau2 figure
    without other models' help: it drives the domain tools, taking advice from itself).
  * (``basic``) ``orchestrators.<M>.gather_mean`` <- ``M``'s ``basic_tools`` FRAMES accuracy (evidence it
    gathers with its own searches and reasoning before answering).
  * (``experts``) ``orchestrators.<M>.gather_experts`` <- ``M``'s ``all_tools`` FRAMES accuracy (how many
    calls it makes when other models are on offer; which ones is ``prefer``, from tool_use.csv).

``cost`` and ``latency`` (linear solves: a knob changes what is billed, never what happens, so
each cell's mean cost/latency is affine in it; two runs give the line, and the knob minimises
the squared log error of the cell's ratio on every benchmark that publishes it)
  * ``orchestrators.gpt-5.turn_tokens`` / ``turn_latency_s`` <- GPT-5's ``no_tools`` cost /
    latency ratio (its one answer call relative to its own ``basic_tools`` episode: the
    reference of every ratio).
  * ``models.<M>.thinking_tokens`` / ``latency_s`` <- ``M``'s ``no_tools`` cost / latency ratio.
  * ``orchestrators.<M>.turn_tokens`` / ``turn_latency_s`` <- ``M``'s ``basic_tools`` ratio.

Not fitted (predictions the reproduction checks): every HLE cell, tau2 ``all_tools`` accuracy,
every ``all_tools`` cost and latency ratio, tau2's ratios' departure from FRAMES/HLE's.

Behaviour does not depend on the billing knobs, tau2's skill does not act on FRAMES/HLE,
``gather_mean`` acts only without other models on offer and ``gather_experts`` only with them,
so ``--stages tau2 cost`` (say) refits those keys over the other stages' in ``fitted.yaml``
(the cost stage must follow any behaviour stage); a full fit (the default) starts from
``calibration.yaml`` alone.

    python -m benchmarks.fit_calibration              # ~ 15 minutes on 2 cores
"""
from __future__ import annotations

import argparse
import math
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import yaml

from benchmarks import reproduce_table1 as rep

FITTED = Path(__file__).resolve().parents[1] / "orchestra_env" / "experts" / "fitted.yaml"
STAGES = ("tau2", "basic", "experts", "cost")
STAGE_KEYS = {  # what each stage writes: (section, key)
    "tau2": [("models", "skill.tau2")], "basic": [("orchestrators", "gather_mean")],
    "experts": [("orchestrators", "gather_experts")],
    "cost": [("models", "thinking_tokens"), ("models", "latency_s"),
             ("orchestrators", "turn_tokens"), ("orchestrators", "turn_latency_s")],
}
REF_MODEL = "GPT-5"


class Runner:
    """Runs cells under ``calibration.yaml`` + the overlay fitted so far (+ a trial overlay)."""

    def __init__(self, n: int, hle_n: int, seed: int, hle_path: str, overlay: dict[str, Any]):
        self.n, self.hle_n, self.seed, self.hle_path, self.overlay = n, hle_n, seed, hle_path, overlay
        self._cache: dict[str, dict[str, float]] = {}

    def cell(self, bench: str, setting: str, model: str, trial: Mapping[str, Any] | None = None) -> dict[str, float]:
        from orchestra_env.experts.simulated import deep_merge

        key = yaml.safe_dump([bench, setting, model, self.overlay, dict(trial or {})], sort_keys=True)
        if key not in self._cache:
            self._cache[key] = self._run(bench, setting, model, trial)
        return self._cache[key]

    def _run(self, bench: str, setting: str, model: str, trial: Mapping[str, Any] | None) -> dict[str, float]:
        from orchestra_env.experts.simulated import deep_merge

        base = yaml.safe_load(resources.files("orchestra_env.experts").joinpath("calibration.yaml").read_text())
        data = deep_merge(deep_merge(base, self.overlay), dict(trial or {}))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "calibration.yaml"
            path.write_text(yaml.safe_dump(data))
            config = rep.ReproduceConfig(n=self.hle_n if bench == "hle" else self.n, seed=self.seed, progress=False,
                                         experts={"default": {"backend": "simulated", "calibration": str(path)}})
            episodes = rep.run_cell(bench, setting, model, config, self.hle_path)
        return {"acc": 100.0 * float(np.mean(episodes["correct"])),
                "cost": float(np.mean(episodes["cost_usd"])), "latency": float(np.mean(episodes["latency_s"]))}


def bisect(f: Callable[[float], float], target: float, lo: float, hi: float, steps: int) -> float:
    """x in [lo, hi] with f(x) ~ target for an increasing f (noisy: a fixed number of steps)."""
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return round((lo + hi) / 2, 4)


def solve_affine(lines: Sequence[tuple[float, float]], target: float, lo: float, hi: float) -> float:
    """x in [lo, hi] minimising sum_b (log(a_b + b_b x) - log target)^2 over the given lines.

    Each line is one benchmark's ratio as an affine function of the knob (``a + b x``). A
    log-spaced grid then a local refinement: deterministic, no optimiser state."""
    def loss(x: float) -> float:
        return sum((math.log(max(a + b * x, 1e-12)) - math.log(target)) ** 2 for a, b in lines)

    grid = np.concatenate([[lo], np.geomspace(max(lo, 1e-3), hi, 400)])
    best = float(min(grid, key=loss))
    step = best * 0.02 + 1e-3
    for _ in range(60):
        candidates = [max(lo, best - step), best, min(hi, best + step)]
        new = float(min(candidates, key=loss))
        step = step if new != best else step / 2
        best = new
    return round(best, 3)


def _set(overlay: dict[str, Any], *keys_and_value: Any) -> None:
    *keys, last, value = keys_and_value
    node = overlay
    for key in keys:
        node = node.setdefault(key, {})
    node[last] = value


def _nested(*keys_and_value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _set(out, *keys_and_value)
    return out


def fit_tau2(run: Runner, models: Sequence[str], steps: int) -> None:
    pub = rep.published()
    for paper_model in models:
        model = rep.MODELS[paper_model]
        tau2 = bisect(lambda x: run.cell("tau2", "basic_tools", paper_model,
                                         _nested("models", model, "skill", "tau2", x))["acc"],
                      float(pub[("basic_tools", paper_model)]["tau2"]), 0.01, 0.99, steps)
        _set(run.overlay, "models", model, "skill", "tau2", tau2)
        print(f"{paper_model}: tau2 skill {tau2}", flush=True)


def fit_basic(run: Runner, models: Sequence[str], steps: int) -> None:
    pub = rep.published()
    for paper_model in models:
        model = rep.MODELS[paper_model]
        gather = bisect(lambda x: run.cell("frames", "basic_tools", paper_model,
                                           _nested("orchestrators", model, "gather_mean", x))["acc"],
                        float(pub[("basic_tools", paper_model)]["frames"]), 0.0, 8.0, steps)
        _set(run.overlay, "orchestrators", model, "gather_mean", gather)
        print(f"{paper_model}: gather_mean {gather}", flush=True)


def fit_experts(run: Runner, models: Sequence[str], steps: int) -> None:
    pub = rep.published()
    for paper_model in models:
        model, full = rep.MODELS[paper_model], pub[("all_tools", paper_model)]
        experts = bisect(lambda x: run.cell("frames", "all_tools", paper_model,
                                            _nested("orchestrators", model, "gather_experts", x))["acc"],
                         float(full["frames"]), 0.0, 8.0, steps)
        _set(run.overlay, "orchestrators", model, "gather_experts", experts)
        print(f"{paper_model}: gather_experts {experts}", flush=True)


def _benches(setting: str, paper_model: str) -> list[str]:
    pub = rep.published()[(setting, paper_model)]
    return [b for b in rep.BENCHMARKS if pub.get(b) is not None]


def _lines(run: Runner, setting: str, paper_model: str, knobs: Mapping[str, tuple[Callable[[float], dict[str, Any]], float, float]],
           reference: Mapping[str, Mapping[str, float]], benches: Sequence[str] | None = None
           ) -> dict[str, list[tuple[float, float]]]:
    """Per metric and benchmark, the cell's ratio to the reference as ``(a, b)`` of ``a + b x``.

    The cost knob bills tokens and the latency knob bills seconds, so one pair of runs (both
    knobs at x0, then both at x1) gives both lines."""
    from orchestra_env.experts.simulated import deep_merge

    def trial(i: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for make, *xs in knobs.values():
            out = deep_merge(out, make(xs[i]))
        return out

    lines: dict[str, list[tuple[float, float]]] = {m: [] for m in knobs}
    for bench in benches or _benches(setting, paper_model):
        y0, y1 = run.cell(bench, setting, paper_model, trial(0)), run.cell(bench, setting, paper_model, trial(1))
        for metric, (_, x0, x1) in knobs.items():
            r0, r1 = y0[metric] / reference[bench][metric], y1[metric] / reference[bench][metric]
            b = (r1 - r0) / (x1 - x0)
            lines[metric].append((r0 - b * x0, b))
    return lines


TURN = {"cost": ("turn_tokens", 0.0, 4000.0, 0.0, 20000.0), "latency": ("turn_latency_s", 5.0, 60.0, 0.5, 600.0)}
OWN = {"cost": ("thinking_tokens", 0.0, 2000.0, 0.0, 20000.0), "latency": ("latency_s", 5.0, 30.0, 0.5, 600.0)}


def _knobs(section: str, model: str, table: Mapping[str, tuple[str, float, float, float, float]]
           ) -> dict[str, tuple[Callable[[float], dict[str, Any]], float, float]]:
    return {metric: ((lambda x, key=key: _nested(section, model, key, x)), x0, x1)
            for metric, (key, x0, x1, _, _) in table.items()}


def fit_billing(run: Runner, models: Sequence[str]) -> None:
    """Stage ``cost`` (see the module docstring): tokens and latencies, reference first."""
    pub = rep.published()
    ref = pub[rep.REFERENCE]
    target = {(s, m): {k: float(pub[(s, m)][k]) / float(ref[k]) for k in ("cost", "latency")}  # type: ignore[arg-type]
              for s in ("no_tools", "basic_tools") for m in models}
    gpt5 = rep.MODELS[REF_MODEL]
    # 1. the reference: GPT-5's no_tools ratio = its answer call N / its basic_tools episode
    #    (r0 + s x): 1/ratio is affine in x, so the same solver fits it
    no_tools = {b: run.cell(b, "no_tools", REF_MODEL) for b in _benches("no_tools", REF_MODEL)}
    raw = _lines(run, "basic_tools", REF_MODEL, _knobs("orchestrators", gpt5, TURN),
                 no_tools, benches=list(no_tools))  # tau2 has no no_tools row
    for metric, (key, _, _, lo, hi) in TURN.items():
        value = solve_affine(raw[metric], 1.0 / target[("no_tools", REF_MODEL)][metric], lo, hi)
        _set(run.overlay, "orchestrators", gpt5, key, value)
        print(f"{REF_MODEL}: {key} {value}", flush=True)
    reference = {b: run.cell(b, "basic_tools", REF_MODEL) for b in rep.BENCHMARKS}
    # 2. every other model: its answer call, then its own orchestrator turns
    for paper_model in (m for m in models if m != REF_MODEL):
        model = rep.MODELS[paper_model]
        for setting, section, table in (("no_tools", "models", OWN), ("basic_tools", "orchestrators", TURN)):
            lines = _lines(run, setting, paper_model, _knobs(section, model, table), reference)
            for metric, (key, _, _, lo, hi) in table.items():
                value = solve_affine(lines[metric], target[(setting, paper_model)][metric], lo, hi)
                _set(run.overlay, section, model, key, value)
                print(f"{paper_model}: {section}.{key} {value}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="tasks per benchmark (default: whole splits)")
    parser.add_argument("--hle-n", type=int, default=200, help="questions of the synthetic HLE fixture")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=6, help="bisection steps per accuracy knob")
    parser.add_argument("--models", nargs="*", default=list(rep.MODELS))
    parser.add_argument("--stages", nargs="*", default=list(STAGES), choices=STAGES)
    parser.add_argument("--out", default=str(FITTED))
    args = parser.parse_args(argv)
    out = Path(args.out)
    # stages not run keep their keys from the existing fit (each stage's knobs act where the others'
    # do not, see the docstring); the keys of the stages run are refitted from calibration.yaml
    overlay: dict[str, Any] = (yaml.safe_load(out.read_text()) or {}) if out.exists() else {}
    for stage in args.stages:
        for section, key in STAGE_KEYS[stage]:
            for card in (overlay.get(section) or {}).values():
                node, *path = key.split(".")
                if path:
                    (card.get(node) or {}).pop(path[0], None)
                else:
                    card.pop(node, None)
    if out.exists():
        out.unlink()  # Calibration.load() must not merge the old fit under the new one
    header = (f"# WRITTEN BY benchmarks/fit_calibration.py (do not edit by hand): seed {args.seed}, n {args.n}, "
              f"HLE fixture n {args.hle_n}, {args.steps} bisection steps, last stages run: {' '.join(args.stages)}.\n"
              "# Fitted to ToolOrchestra Table 1 (orchestra_env/data/toolorchestra/table1.csv); what each key is\n"
              "# fitted to: see the docstring of benchmarks/fit_calibration.py. Merged over calibration.yaml by\n"
              "# Calibration.load().\n")
    fits = {"tau2": fit_tau2, "basic": fit_basic, "experts": fit_experts,
            "cost": lambda run, models, steps: fit_billing(run, models)}
    with tempfile.TemporaryDirectory() as tmp:
        from orchestra_env.data.hle import write_synthetic_hle

        hle = str(write_synthetic_hle(Path(tmp) / "synthetic_hle.jsonl", n=args.hle_n, seed=args.seed))
        run = Runner(args.n, args.hle_n, args.seed, hle, overlay)
        for stage in (s for s in STAGES if s in args.stages):
            fits[stage](run, args.models, args.steps)
            staged = out.with_suffix(".partial.yaml")  # a stage's result survives a later stage's failure
            staged.write_text(header + yaml.safe_dump(run.overlay, sort_keys=True))
    staged.replace(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
