"""Why a learned router falls short of the Bayes router on FRAMES, in numbers (no learners run).

Per ``CostLatencyPenalty`` preset, on the whole test split (paired tasks and seeds):

* what the Bayes router's information is worth: the Bayes router beside the same router blind to
  the task's categories (skills at the benchmark's average), and their paired gap: a learner
  sees the question, not its categories;
* how hard the optimum is to find: the Bayes router's expected reward-to-go of each first action
  (best, runner-up, their gap), the share of episodes on its most common plan;
* how many episodes resolve the goal: the per-episode reward's spread (sd) and the episodes a
  paired-free comparison needs to tell a 5% shortfall of (Bayes - random) at 95%:
  (1.96 sd / (0.05 (Bayes - random)))^2.

    python -m benchmarks.routing_limits --out results/routing_limits
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from benchmarks.common import RunConfig, parse_run_config, record_and_print
from benchmarks.routing import PRESETS, paired_gap, text_env
from benchmarks.stats import bootstrap_mean


@dataclass
class LimitsConfig(RunConfig):
    presets: list[str] = field(default_factory=lambda: list(PRESETS), metadata={"help": "presets"})
    max_turns: int = field(default=4, metadata={"help": "turn budget (the routing benchmark's)"})
    fit_tasks: int = field(default=40, metadata={"help": "train tasks of the Bayes router's evidence estimates"})
    out: str = field(default="results/routing_limits", metadata={"help": "output stem"})


def _episodes(router: Any, env: Any, seed: int) -> tuple[list[float], Counter[str], list[dict[str, float]]]:
    """Per-episode rewards, plan counts and first-action values of ``router`` on every task of ``env``."""
    order = np.random.default_rng(seed).permutation(len(env.unwrapped.tasks))
    rewards, plans, firsts = [], Counter(), []
    for i, t in enumerate(order):
        obs, info = env.reset(seed=seed + i, options={"task_index": int(t)})
        router.begin(env, obs, info)
        firsts.append(router.action_values())
        total, done, plan = 0.0, False, []
        while not done:
            action = router.act(obs, info)
            plan.append(router._last.label.split(":")[-1] if router._last is not None else "?")
            obs, r, terminated, truncated, info = env.step(action)
            total += float(r)
            done = terminated or truncated
        rewards.append(total)
        plans[">".join(plan)] += 1
    return rewards, plans, firsts


def run(config: LimitsConfig) -> list[dict[str, Any]]:
    import torch

    from agents.baselines import evaluate
    from agents.bayes_router import BayesRouter, fit_world

    torch.set_num_threads(1)
    fit_env = text_env("train", "cost-first", config.max_turns)
    world = fit_world(fit_env, config.fit_tasks, seed=10_000)
    fit_env.close()
    rows = []
    for preset in config.presets:
        env = text_env("test", preset, config.max_turns)
        bayes, plans, firsts = _episodes(BayesRouter(world), env, config.seed)
        blind, _, _ = _episodes(BayesRouter(world, use_categories=False), env, config.seed)
        rand = evaluate("random", env, n_tasks=len(bayes), seed=config.seed)["episodes"]["reward"]
        env.close()
        gaps = [sorted(v.values(), reverse=True) for v in firsts]
        best_first = Counter(max(v, key=v.get) for v in firsts).most_common(1)[0]
        runner_up = Counter(sorted(v, key=v.get)[-2] for v in firsts).most_common(1)[0][0]
        b, r = bootstrap_mean(bayes), float(np.mean(rand))
        sd = float(np.std(bayes, ddof=1))
        plan, count = plans.most_common(1)[0]
        rows.append({"preset": preset, "n": len(bayes), "bayes": b.value, "bayes_lo": b.low, "bayes_hi": b.high,
                     "blind": float(np.mean(blind)), "blind_gap": paired_gap(blind, bayes), "random": r,
                     "best_first": best_first[0], "runner_up": runner_up,
                     "first_gap": float(np.mean([g[0] - g[1] for g in gaps])),
                     "plan": plan, "plan_share": count / len(bayes), "sd": sd,
                     "n_needed": int(np.ceil((1.96 * sd / (0.05 * (b.value - r))) ** 2)) if b.value != r else None})
    return rows


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| preset | n | bayes reward [95% CI] | category-blind bayes | blind - bayes (paired) | random | "
             "best first action (runner-up) | value gap best - runner-up | most common plan (share) | "
             "reward sd per episode | episodes to resolve 5% of bayes - random |",
             "|---|---:|---:|---:|---:|---:|---|---:|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['preset']} | {r['n']} | {r['bayes']:.3f} [{r['bayes_lo']:.3f}, {r['bayes_hi']:.3f}] | "
                     f"{r['blind']:.3f} | {r['blind_gap']} | {r['random']:.3f} | {r['best_first'].split(':')[-1]} "
                     f"({r['runner_up'].split(':')[-1]}) | {r['first_gap']:.4f} | {r['plan']} ({100 * r['plan_share']:.0f}%) | "
                     f"{r['sd']:.3f} | {r['n_needed']} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, config: LimitsConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_run_config(argv, LimitsConfig(), __doc__)
    return record_and_print("routing_limits", config, run, lambda rows: (
        f"FRAMES-v0 test split, max_turns {config.max_turns}; Bayes router fitted on {config.fit_tasks} train tasks."
        "\n\n" + markdown(rows)))


if __name__ == "__main__":
    main()
