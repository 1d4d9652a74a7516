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

from benchmarks.common import RunConfig, parse_run_config, run_recorded
from benchmarks.stats import bootstrap_mean, ratio_interval, wilson

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
        acc, cost = wilson(sum(episodes["correct"]), len(episodes["correct"])), bootstrap_mean(episodes["cost_usd"])
        ratio = ratio_interval(episodes["cost_usd"], ref["cost_usd"])
        rows.append({"policy": name, "n": len(episodes["correct"]), "accuracy": 100 * acc.value,
                     "acc_lo": 100 * acc.low, "acc_hi": 100 * acc.high, "cost_usd": cost.value,
                     "cost_ratio": ratio.value, "ratio_lo": ratio.low, "ratio_hi": ratio.high,
                     "admits_published": bool(100 * acc.high >= PUBLISHED["accuracy"]
                                              and ratio.low <= PUBLISHED["cost_ratio"])})
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| policy | n | accuracy % [95% CI] | $ per task | cost ratio to GPT-5 basic_tools [95% CI] | "
             "consistent with Orchestrator-8B (80.2%, 0.30) |", "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['policy']} | {r['n']} | {r['accuracy']:.1f} [{r['acc_lo']:.1f}, {r['acc_hi']:.1f}] | "
                     f"{r['cost_usd']:.4f} | {r['cost_ratio']:.2f} [{r['ratio_lo']:.2f}, {r['ratio_hi']:.2f}] | "
                     f"{'yes' if r['admits_published'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    config = parse_run_config(argv, Tau2FrontierConfig(), __doc__)
    rows, record, paths = run_recorded("tau2_frontier", config, run, markdown=markdown)
    print(markdown(rows))
    print(f"wrote {', '.join(map(str, paths))} ({record.duration_s:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
