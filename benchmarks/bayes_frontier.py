"""Does the calibrated world admit ToolOrchestra's Orchestrator-8B row? The Bayes router's frontier.

Orchestrator-8B (table1.csv): FRAMES 76.3% at cost 9.2, against GPT-5 ``basic_tools`` 74.0% at
30.2 (a cost ratio of 0.30). The Bayes router (:mod:`agents.bayes_router`) is the best a policy
that does not see the draw can do in this world, so sweeping its cost weight traces the world's
accuracy-vs-$ frontier on FRAMES' test split. If no point reaches 76.3% at a cost ratio <= 0.30
(ratio to GPT-5 ``basic_tools`` measured in the same world, as benchmarks/reproduce_table1 does),
the world is too pessimistic for the published row; if one does, the world admits it.

    python -m benchmarks.bayes_frontier --out results/bayes_frontier
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from benchmarks.common import RunConfig, parse_run_config, record_and_print
from benchmarks.stats import bootstrap_mean, ratio_interval, wilson

PUBLISHED = {"accuracy": 76.3, "cost_ratio": 9.2 / 30.2}


@dataclass
class FrontierConfig(RunConfig):
    betas: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0],
                               metadata={"help": "cost weights (per $0.10) of the Bayes router's reward", "type": float})
    max_turns: list[int] = field(default_factory=lambda: [4], metadata={"help": "turn budgets", "type": int})
    fit_tasks: int = field(default=30, metadata={"help": "train tasks of the evidence estimates"})
    out: str = field(default="results/bayes_frontier", metadata={"help": "output stem"})


def run(config: FrontierConfig) -> list[dict[str, Any]]:
    from orchestra_env.wrappers import PenaltyWeights

    from agents.baselines import evaluate
    from agents.bayes_router import BayesRouter, fit_world
    from benchmarks.reproduce_table1 import ReproduceConfig, run_cell
    from benchmarks.routing import text_env

    ref = run_cell("frames", "basic_tools", "GPT-5", ReproduceConfig(seed=config.seed), "")
    rows: list[dict[str, Any]] = []
    fit_env = text_env("train", "cost-first", max(config.max_turns))
    world = fit_world(fit_env, config.fit_tasks, seed=10_000)
    fit_env.close()
    for turns in config.max_turns:
        env = text_env("test", "cost-first", turns)
        for beta in config.betas:
            router = BayesRouter(world, PenaltyWeights(1.0, beta, 0.05))
            ep = evaluate(router, env, n_tasks=len(env.unwrapped.tasks), seed=config.seed)["episodes"]
            rows.append({"max_turns": turns, "beta": beta, **frontier_point(ep, ref["cost_usd"], PUBLISHED)})
        env.close()
    return rows


def frontier_point(episodes: Mapping[str, Sequence[float]], reference_cost: Sequence[float],
                   published: Mapping[str, float]) -> dict[str, Any]:
    """Accuracy (Wilson), mean $ and cost ratio to the reference (intervals) of one policy's
    episodes, and whether they are consistent with the published row: the accuracy interval
    reaches its accuracy and the ratio interval its cost ratio."""
    acc, cost = wilson(sum(episodes["correct"]), len(episodes["correct"])), bootstrap_mean(episodes["cost_usd"])
    ratio = ratio_interval(episodes["cost_usd"], reference_cost)
    return {"n": len(episodes["correct"]), "accuracy": 100 * acc.value, "acc_lo": 100 * acc.low,
            "acc_hi": 100 * acc.high, "cost_usd": cost.value, "cost_ratio": ratio.value, "ratio_lo": ratio.low,
            "ratio_hi": ratio.high, "admits_published": bool(100 * acc.high >= published["accuracy"]
                                                              and ratio.low <= published["cost_ratio"])}


def frontier_header(published: Mapping[str, float]) -> str:
    return (f"n | accuracy % [95% CI] | $ per task | cost ratio to GPT-5 basic_tools [95% CI] | consistent with "
            f"Orchestrator-8B ({published['accuracy']:.1f}%, {published['cost_ratio']:.2f}) |")


def frontier_cells(r: Mapping[str, Any]) -> str:
    return (f"{r['n']} | {r['accuracy']:.1f} [{r['acc_lo']:.1f}, {r['acc_hi']:.1f}] | {r['cost_usd']:.4f} | "
            f"{r['cost_ratio']:.2f} [{r['ratio_lo']:.2f}, {r['ratio_hi']:.2f}] | {'yes' if r['admits_published'] else 'no'} |")


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| max_turns | cost weight (per $0.10) | " + frontier_header(PUBLISHED), "|---:|---:|---:|---:|---:|---:|---|"]
    lines += [f"| {r['max_turns']} | {r['beta']:g} | " + frontier_cells(r) for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    return record_and_print("bayes_frontier", parse_run_config(argv, FrontierConfig(), __doc__), run, markdown)


if __name__ == "__main__":
    main()
