"""Does the calibrated world admit ToolOrchestra's Orchestrator-8B row on tau2? Adviser policies' frontier.

Orchestrator-8B (table1.csv): tau2 80.2% at cost 9.2, against GPT-5 ``basic_tools`` 77.7% at 30.2
(a cost ratio of 0.30, the row's average). On tau2 a policy's routing choice is whom to ask for
each step (``call_expert``) and whether to trust the advice; the adviser policies
(:mod:`agents.adviser_policy`: always ask one model, ask cheap models first, or let two cheap models
vote and ask GPT-5 when they disagree) are points a policy that never sees the verdicts can reach,
so each is a lower bound on the world's frontier. If one reaches 80.2% (its interval's top) at a cost
ratio <= 0.30 (its interval's bottom; ratio to GPT-5 ``basic_tools`` measured in the same run, as
``benchmarks.reproduce_table1`` does), the world admits the row; if none does, the frontier's exact
optimum may still, so the answer is "not shown", not "no".

tau2 is pooled as in the reproduction: airline and retail test splits and telecom's 20-task set.
The env bills the orchestrator's own turns at the catalogue orchestrator's price (Qwen3-8B, the
model Orchestrator-8B is trained from).

    python -m benchmarks.tau2_frontier --out results/tau2_frontier
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from benchmarks.bayes_frontier import frontier_cells, frontier_header, frontier_point
from benchmarks.common import RunConfig, parse_run_config, record_and_print

PUBLISHED = {"accuracy": 80.2, "cost_ratio": 9.2 / 30.2}
POLICIES = {  # name -> (advisers, fallback)
    "ask gpt-5 (expert-1)": (("expert-1",), None),
    "ask gpt-5-mini (expert-2)": (("expert-2",), None),
    "ask Qwen3-32B (expert-3)": (("expert-3",), None),
    "cheap first: Qwen3-32B, gpt-5-mini, gpt-5 when unsure": (("expert-3", "expert-2", "expert-1"), None),
    "vote: Qwen3-32B + gpt-5-mini, gpt-5 on disagreement": (("expert-3", "expert-2"), "expert-1"),
}


@dataclass
class Tau2FrontierConfig(RunConfig):
    n: int = field(default=100_000, metadata={"help": "tasks per tau2 domain (default: every task)"})
    out: str = field(default="results/tau2_frontier", metadata={"help": "output stem"})


def run(config: Tau2FrontierConfig) -> list[dict[str, Any]]:
    import gymnasium as gym

    import orchestra_env  # noqa: F401 - registers the ids
    from agents.adviser_policy import AdviserPolicy
    from agents.baselines import evaluate
    from benchmarks.reproduce_table1 import TAU2_DOMAINS, ReproduceConfig, run_cell

    ref = run_cell("tau2", "basic_tools", "GPT-5", ReproduceConfig(seed=config.seed, n=config.n), "")
    rows: list[dict[str, Any]] = []
    for name, (advisers, fallback) in POLICIES.items():
        episodes: dict[str, list[float]] = {"correct": [], "cost_usd": [], "latency_s": []}
        for domain, split in TAU2_DOMAINS.items():
            env = gym.make(f"Orchestra/Tau2-{domain}-v0", split=split)
            try:
                n = min(config.n, len(env.unwrapped.tasks))
                result = evaluate(AdviserPolicy(advisers, fallback), env, n_tasks=n, seed=config.seed)
            finally:
                env.close()
            for key in episodes:
                episodes[key] += result["episodes"][key]
        rows.append({"policy": name, **frontier_point(episodes, ref["cost_usd"], PUBLISHED)})
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| policy | " + frontier_header(PUBLISHED), "|---|---:|---:|---:|---:|---|"]
    lines += [f"| {r['policy']} | " + frontier_cells(r) for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    return record_and_print("tau2_frontier", parse_run_config(argv, Tau2FrontierConfig(), __doc__), run, markdown)


if __name__ == "__main__":
    main()
