"""Capability descriptions: measure every catalogue model on sample tasks, then say it in a line.

ToolOrchestra shows its orchestrator a short description of each model, written from the
model's own trajectories, so that it knows whom to call. Here:

1. :func:`measure` runs each model once, directly (role ``answer``), on the same seeded
   sample of tasks per benchmark, judges each answer with the benchmark's judge, and prices
   it with the catalogue: accuracy (with a 95% Wilson interval), mean cost and latency per
   call, overall and per category (FRAMES reasoning types, HLE subjects).
2. :func:`describe` turns a model's figures into one short description: an LLM summariser
   when one is given (it is shown the figures and a few trajectories), otherwise a
   deterministic sentence built from the figures only.
3. :func:`write_catalogue` stores the descriptions as the optional ``description`` field of
   each model in a copy of the catalogue, which :mod:`orchestra_env.tools.catalogue_text`
   shows to the policy in the tool descriptions: ``gym.make(..., catalogue=path)``.

By default the experts are the simulated pool, whose figures come from its calibration; pass
an :class:`~orchestra_env.experts.pool.ExpertPool` config to measure real endpoints.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml

from orchestra_env.experts.base import Expert, ExpertRequest
from orchestra_env.experts.oracle import bound_task
from orchestra_env.tasks import Task, derive_seed
from orchestra_env.usage import Catalogue

ANSWER_PROMPT = ("Answer the question. Think briefly, then end with a line 'Final answer: <answer>'.")
SUMMARY_PROMPT = (
    "You write one-paragraph capability descriptions of language models for an orchestrator that "
    "decides which model to call. Below are one model's measured figures and a few of its "
    "answers. In at most 3 sentences, say what it is good and bad at, and its cost and speed. "
    "Quote only the figures given.")
MAX_DESCRIPTION_CHARS = 600
TRAJECTORIES_SHOWN = 4


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (sane at k=0 and k=n)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Figures:
    """Accuracy, cost and latency of one model over some calls."""

    n: int = 0
    correct: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0

    def add(self, correct: bool, cost: float, latency: float) -> None:
        self.n += 1
        self.correct += int(correct)
        self.cost_usd += cost
        self.latency_s += latency

    def summary(self) -> dict[str, Any]:
        low, high = wilson(self.correct, self.n)
        return {"n": self.n, "accuracy": self.correct / self.n if self.n else 0.0,
                "ci95": [round(low, 4), round(high, 4)],
                "cost_usd_per_call": self.cost_usd / self.n if self.n else 0.0,
                "latency_s_per_call": self.latency_s / self.n if self.n else 0.0}


@dataclass
class ModelReport:
    """One model's figures per benchmark and category, and a few trajectories."""

    model: str
    benchmarks: dict[str, Figures] = field(default_factory=dict)
    categories: dict[str, dict[str, Figures]] = field(default_factory=dict)
    trajectories: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None  # why the model could not be measured
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "skipped": self.skipped, "description": self.description,
                "benchmarks": {b: f.summary() for b, f in self.benchmarks.items()},
                "categories": {b: {c: f.summary() for c, f in cats.items()} for b, cats in self.categories.items()}}


def sample_tasks(tasks: Sequence[Task], n: int, seed: int, benchmark: str) -> list[Task]:
    """The same ``n`` tasks for every model: a seeded choice without replacement."""
    rng = np.random.default_rng(derive_seed("describe-models", benchmark, seed))
    index = rng.choice(len(tasks), size=min(n, len(tasks)), replace=False)
    return [tasks[int(i)] for i in sorted(index)]


def request_for(model: str, task: Task, seed: int) -> ExpertRequest:
    """The measurement call: one direct answer, no tools, no evidence."""
    return ExpertRequest(model=model, role="answer", max_tokens=1024,
                         seed=derive_seed("describe-models", seed, model, task.task_id),
                         messages=({"role": "system", "content": ANSWER_PROMPT},
                                   {"role": "user", "content": task.question}))


def measure(experts: Expert, catalogue: Catalogue, tasks: Mapping[str, Sequence[Task]],
            models: Sequence[str] | None = None, seed: int = 0) -> dict[str, ModelReport]:
    """Every model (default: all of the catalogue's) on every benchmark's ``tasks``."""
    from orchestra_env.judges import make_judge  # judges import the expert layer

    judges = {b: make_judge(b) for b in tasks}
    out: dict[str, ModelReport] = {}
    for model in models or list(catalogue.models):
        report = out[model] = ModelReport(model)
        try:
            for benchmark, sample in tasks.items():
                total = report.benchmarks.setdefault(benchmark, Figures())
                per_category = report.categories.setdefault(benchmark, {})
                for task in sample:
                    with bound_task(task):  # as the env does in a step: the simulated pool's ground truth
                        response = experts.complete(request_for(model, task, seed))
                    verdict = judges[benchmark](task, response.text if not response.error else "")
                    cost = catalogue.price(model).cost(response.tokens_in, response.tokens_out)
                    total.add(verdict.correct, cost, response.latency_s)
                    for category in task.categories:
                        per_category.setdefault(category, Figures()).add(verdict.correct, cost, response.latency_s)
                    if len(report.trajectories) < TRAJECTORIES_SHOWN:
                        report.trajectories.append({"benchmark": benchmark, "question": task.question[:300],
                                                    "answer": response.text[-300:], "correct": verdict.correct})
        except ValueError as exc:  # e.g. the simulated pool has no card for this model
            out[model] = ModelReport(model, skipped=str(exc))
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def figures_text(report: ModelReport) -> str:
    """The deterministic description: only measured figures, in one or two sentences."""
    if report.skipped:
        return ""
    parts = []
    for benchmark, figures in report.benchmarks.items():
        s = figures.summary()
        text = (f"{benchmark.upper()} {_pct(s['accuracy'])} correct (n={s['n']}, 95% CI "
                f"{_pct(s['ci95'][0])}-{_pct(s['ci95'][1])}), ${s['cost_usd_per_call']:.4f} and "
                f"{s['latency_s_per_call']:.1f} s per call")
        cats = [(c, f.summary()) for c, f in report.categories.get(benchmark, {}).items() if f.n >= 3]
        if len(cats) >= 2:
            best = max(cats, key=lambda cf: (cf[1]["accuracy"], cf[0]))
            worst = min(cats, key=lambda cf: (cf[1]["accuracy"], cf[0]))
            if best[1]["accuracy"] > worst[1]["accuracy"]:
                text += (f"; best at {best[0]} ({_pct(best[1]['accuracy'])}), weakest at {worst[0]} "
                         f"({_pct(worst[1]['accuracy'])})")
        parts.append(text)
    return "Measured: " + "; ".join(parts) + "."


def describe(report: ModelReport, summarizer: Expert | None = None, summarizer_model: str | None = None,
             seed: int = 0) -> str:
    """One model's description: the summariser's (when given and it answers), else the figures'."""
    fallback = figures_text(report)
    if summarizer is None or summarizer_model is None or report.skipped:
        return fallback
    payload = json.dumps({"figures": report.as_dict(), "trajectories": report.trajectories}, ensure_ascii=False)
    response = summarizer.complete(ExpertRequest(
        model=summarizer_model, role="expert", max_tokens=256, seed=derive_seed("describe", seed, report.model),
        messages=({"role": "system", "content": SUMMARY_PROMPT},
                  {"role": "user", "content": f"Model: {report.model}\n{payload}"})))
    text = " ".join(response.text.split())
    return text[:MAX_DESCRIPTION_CHARS] if text and not response.error else fallback


def write_catalogue(source: str | Path | None, descriptions: Mapping[str, str], out: str | Path) -> Path:
    """A copy of the catalogue YAML with ``description`` set on each described model."""
    text = (Path(source).read_text() if source is not None else
            resources.files("orchestra_env").joinpath("data/catalogue.yaml").read_text())
    data = yaml.safe_load(text)
    for model, description in descriptions.items():
        if description and model in data["models"]:
            data["models"][model]["description"] = description
    Catalogue.from_dict(data)  # what we write must load
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000))
    return path


def load_benchmark(name: str, hle_path: str | None = None) -> list[Task]:
    if name == "frames":
        from orchestra_env.data.frames import load_frames

        return load_frames("all")
    if name == "hle":
        from orchestra_env.data.hle import load_hle

        return load_hle(hle_path).tasks
    raise ValueError(f"describe-models measures QA benchmarks with a judge: 'frames' or 'hle', not {name!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """``orchestra describe-models``: measure, describe, write the described catalogue."""
    parser = argparse.ArgumentParser(prog="orchestra describe-models", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="catalogue YAML to write (a copy with descriptions)")
    parser.add_argument("--figures", default=None, help="also write the measured figures as JSON here")
    parser.add_argument("--catalogue", default=None, help="catalogue to describe (default: the shipped one)")
    parser.add_argument("--benchmarks", default="frames", help="comma-separated: frames,hle")
    parser.add_argument("--hle-path", default=None, help="your copy of HLE (for --benchmarks hle)")
    parser.add_argument("--n", type=int, default=50, help="tasks per benchmark")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=None, help="comma-separated subset of the catalogue's models")
    parser.add_argument("--experts", default=None, help="expert-pool YAML (default: all simulated)")
    parser.add_argument("--summarizer-model", default=None,
                        help="a model served by --experts that writes the descriptions (default: figures only)")
    args = parser.parse_args(argv)

    from orchestra_env.experts.pool import ExpertPool

    catalogue = Catalogue.load(args.catalogue)
    pool = ExpertPool.from_config(args.experts)
    tasks = {b: sample_tasks(load_benchmark(b, args.hle_path), args.n, args.seed, b)
             for b in args.benchmarks.split(",") if b}
    models = args.models.split(",") if args.models else None
    reports = measure(pool, catalogue, tasks, models, args.seed)
    for report in reports.values():
        report.description = describe(report, pool if args.summarizer_model else None, args.summarizer_model, args.seed)
        print(f"{report.model}: {report.description or 'skipped: ' + str(report.skipped)}")
    write_catalogue(args.catalogue, {m: r.description for m, r in reports.items()}, args.out)
    if args.figures:
        Path(args.figures).write_text(json.dumps(
            {"seed": args.seed, "n": args.n, "benchmarks": list(tasks), "experts": args.experts or "simulated",
             "summarizer_model": args.summarizer_model,
             "models": {m: r.as_dict() for m, r in reports.items()}}, indent=2))
    return 0


__all__ = ["Figures", "ModelReport", "describe", "main", "measure", "request_for", "sample_tasks",
           "write_catalogue"]
