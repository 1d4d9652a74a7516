"""Preference adherence on FRAMES-v0: do call shares, $ and seconds move as the user asks?

Conditions (the env's preference, shown in every observation, and the matching reward):

==================  =========================================================================
accuracy-first      preference "accuracy"; CostLatencyPenalty "accuracy-first"
cost-first          preference "cost";     "cost-first"
speed-first         preference "speed";    "speed-first"
local-only          "cost" plus ``avoid`` = every alias served by a hosted API model
                    (gpt-5, gpt-5-mini, Claude-Opus-4.1); reward "cost-first" minus 1 per such call
avoid-gpt-5         "cost" plus ``avoid`` = gpt-5's aliases; reward "cost-first" minus 1 per call
==================  =========================================================================

Policies: the Bayes router (plans under the condition's weights and drops forbidden aliases),
the frozen-MiniLM router trained by our GRPO *under each condition's reward* on the train split
(the routing view does not show the preference text, so a trained router follows a preference it
was trained under, not one it reads), and each Table 1 prompted orchestrator with ToolOrchestra's
full tool set (its prompt carries the preference text). Scored on the test split:
shares of calls, the share of calls that respect the avoid-list, $ and seconds per task, and $ and
seconds relative to the same policy's accuracy-first run.

    python -m benchmarks.preference_adherence --out results/preference_adherence
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import gymnasium as gym
import numpy as np

from benchmarks.common import RunConfig, parse_run_config, progress, record_and_print
from benchmarks.stats import bootstrap_mean, wilson

os.environ.setdefault("HF_HUB_OFFLINE", "1")

API_MODELS = ("gpt-5", "gpt-5-mini", "Claude-Opus-4.1")
CONDITIONS: dict[str, tuple[str, str, tuple[str, ...]]] = {  # name -> (preference, penalty preset, avoided models)
    "accuracy-first": ("accuracy", "accuracy-first", ()),
    "cost-first": ("cost", "cost-first", ()),
    "speed-first": ("speed", "speed-first", ()),
    "local-only": ("cost", "cost-first", API_MODELS),
    "avoid-gpt-5": ("cost", "cost-first", ("gpt-5",)),
}
ROUTER = "minilm_router (trained per condition)"
PROMPTED = ("Qwen3-8B", "Llama-3.3-70B", "Qwen3-235B-A22B", "Claude-Opus-4.1", "GPT-5")


@dataclass
class AdherenceConfig(RunConfig):
    n: int = field(default=60, metadata={"help": "test-split tasks per (policy, condition)"})
    max_turns: int = field(default=4, metadata={"help": "the routers' turn budget"})
    conditions: list[str] = field(default_factory=lambda: list(CONDITIONS),
                                  metadata={"help": "subset of " + " ".join(CONDITIONS)})
    prompted: list[str] = field(default_factory=lambda: list(PROMPTED),
                                metadata={"help": "Table 1 orchestrators: subset of " + " ".join(PROMPTED)})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2],
                             metadata={"help": "seeds of the trained router (one run per seed and condition)", "type": int})
    router_steps: int = field(default=600, metadata={"help": "training env steps of each router run (600: a 3-seed run fits ~20 min on 2 loaded cores)"})
    fit_tasks: int = field(default=40, metadata={"help": "train tasks of the Bayes router's evidence estimates"})
    out: str = field(default="results/preference_adherence", metadata={"help": "output stem"})

    def __post_init__(self) -> None:
        unknown = sorted(set(self.conditions) - set(CONDITIONS)) + sorted(set(self.prompted) - set(PROMPTED))
        if unknown:
            raise ValueError(f"unknown conditions/prompted {unknown}; choose from {list(CONDITIONS)} / {list(PROMPTED)}")


class AvoidPenalty(gym.Wrapper):
    """Subtract ``penalty`` from the reward for each call naming an avoided alias."""

    def __init__(self, env: gym.Env, avoid: Sequence[str], penalty: float = 1.0) -> None:
        super().__init__(env)
        self.avoid, self.penalty = set(avoid), penalty

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        args = action.get("arguments", {}) if isinstance(action, Mapping) else {}
        if any(str(v) in self.avoid for v in args.values()):
            reward = float(reward) - self.penalty
        return obs, reward, terminated, truncated, info


def avoided_aliases(catalogue: Any, models: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted(a for a, spec in catalogue.aliases.items() if spec.model in models
                        and not a.startswith("self-")))


def make_env(split: str, condition: str, max_turns: int, catalogue: Any = None, charge: bool = True) -> gym.Env:
    import orchestra_env  # noqa: F401
    from orchestra_env.usage import Catalogue
    from orchestra_env.wrappers import CostLatencyPenalty

    pref, preset, models = CONDITIONS[condition]
    avoid = avoided_aliases(Catalogue.load(catalogue), models)
    from orchestra_env.preferences import Preference

    base = Preference.from_any(pref)
    preference = {"weights": dict(base.weights), "instruction": base.instruction + (
        f" Do not use {', '.join(avoid)}." if avoid else ""), "avoid": list(avoid)}
    env = gym.make("Orchestra/FRAMES-v0", split=split, max_turns=max_turns, preference=preference,
                   catalogue=catalogue, charge_orchestrator=charge)
    env = CostLatencyPenalty.preset(env, preset)
    return AvoidPenalty(env, avoid) if avoid else env


def summarise(policy: str, condition: str, result: Mapping[str, Any], avoid: Sequence[str]) -> dict[str, Any]:
    ep = result["episodes"]
    calls = dict(result["model_calls"])
    total = sum(calls.values())
    bad = sum(v for k, v in calls.items() if k in set(avoid))
    api = sum(v for k, v in calls.items() if k in set(result.get("_api_aliases", ())))
    acc, cost, lat = wilson(sum(ep["correct"]), len(ep["correct"])), bootstrap_mean(ep["cost_usd"]), bootstrap_mean(ep["latency_s"])
    return {"policy": policy, "condition": condition, "n": len(ep["correct"]),
            "accuracy": 100 * acc.value, "acc_lo": 100 * acc.low, "acc_hi": 100 * acc.high,
            "cost_usd": cost.value, "cost_lo": cost.low, "cost_hi": cost.high,
            "latency_s": lat.value, "latency_lo": lat.low, "latency_hi": lat.high,
            "respect_avoid": (1 - bad / total) if total else 1.0, "api_share": api / total if total else 0.0,
            "model_use": result["model_use"]}


def run(config: AdherenceConfig) -> list[dict[str, Any]]:
    import torch

    from agents.baselines import PromptedPolicy, evaluate
    from agents.bayes_router import BayesRouter, fit_world
    from agents.routers import RouterConfig, train_router
    from agents.routing_view import RoutingView, routing_policy
    from benchmarks.reproduce_table1 import MODELS, setting_catalogue
    from orchestra_env.usage import Catalogue

    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    fit_env = make_env("train", "cost-first", config.max_turns)
    world = fit_world(fit_env, config.fit_tasks, seed=10_000)
    fit_env.close()
    api_default = avoided_aliases(Catalogue.load(None), API_MODELS)
    for condition in progress(config.conditions, "conditions", config.progress):
        env = make_env("test", condition, config.max_turns)
        avoid = env.unwrapped.preference.avoid
        res = evaluate(BayesRouter(world), env, n_tasks=config.n, seed=config.seed)
        rows.append(summarise("bayes", condition, {**res, "_api_aliases": api_default}, avoid))
        for seed in config.seeds:
            rc = RouterConfig(seed=seed, updates=10**9, max_env_steps=config.router_steps, encoder="frozen")
            envs = [RoutingView(make_env("train", condition, config.max_turns)) for _ in range(rc.group_size)]
            router, _ = train_router(envs, rc)
            view = RoutingView(env)
            act = routing_policy(router, view=view)
            res = evaluate(_ViewPolicy(view, act), env, n_tasks=config.n, seed=config.seed)
            rows.append({**summarise(ROUTER, condition, {**res, "_api_aliases": api_default}, avoid), "seed": seed})
        env.close()
        for paper_model in config.prompted:
            model = MODELS[paper_model]
            catalogue = setting_catalogue("all_tools", model)
            penv = make_env("test", condition, 50, catalogue=catalogue, charge=False)
            res = evaluate(PromptedPolicy(model=model, seed=config.seed), penv, n_tasks=config.n, seed=config.seed)
            api = avoided_aliases(Catalogue.load(catalogue), API_MODELS)
            rows.append(summarise(f"prompted {paper_model} (all_tools)", condition,
                                  {**res, "_api_aliases": api}, penv.unwrapped.preference.avoid))
            penv.close()
    return rows


class _ViewPolicy:
    """A routing-view policy driven through evaluate(): the view is stepped in the text env's place.

    evaluate() resets and steps the text env itself; this adapter re-renders the view's
    observation from the text observation and returns the chosen menu item's text action.
    """

    def __init__(self, view: Any, act: Any) -> None:
        self.view, self.act_fn = view, act

    def begin(self, env: Any, obs: Any, info: Any) -> None:
        self.view._task, self.view._history = obs["task"], []

    def act(self, obs: Any, info: Any) -> Any:
        item = self.view.menu.items[self.act_fn(self.view._observe(obs))]
        self.view._history.append(item.label)
        return item.action(obs["task"])


def merge_seeds(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (policy, condition): seeded rows (the trained router) become their seeds' mean,
    with ``*_sd`` (std over seeds) and the seeds' widest interval."""
    out: list[dict[str, Any]] = []
    for key in dict.fromkeys((r["policy"], r["condition"]) for r in rows):
        runs = [r for r in rows if (r["policy"], r["condition"]) == key]
        if "seed" not in runs[0]:
            out.append(dict(runs[0]))
            continue
        merged = {"policy": f"{key[0]} ({len(runs)} seeds)", "condition": key[1], "n": runs[0]["n"], "seeds": len(runs)}
        for k in ("accuracy", "cost_usd", "latency_s", "respect_avoid", "api_share"):
            merged[k] = float(np.mean([r[k] for r in runs]))
            merged[f"{k}_sd"] = float(np.std([r[k] for r in runs], ddof=1)) if len(runs) > 1 else 0.0
        for lo, hi in (("acc_lo", "acc_hi"), ("cost_lo", "cost_hi"), ("latency_lo", "latency_hi")):
            merged[lo], merged[hi] = min(r[lo] for r in runs), max(r[hi] for r in runs)
        out.append(merged)
    return out


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| policy | condition | n | accuracy % [95% CI] | $ per task [95% CI] | s per task | $ vs accuracy-first | "
             "s vs accuracy-first | calls respecting avoid-list | share of calls to API models |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    merged = merge_seeds(rows)
    base = {r["policy"]: r for r in merged if r["condition"] == "accuracy-first"}
    for r in merged:
        b = base.get(r["policy"])
        rel_c = f"{r['cost_usd'] / b['cost_usd']:.2f}" if b and b["cost_usd"] > 0 else "n/a"
        rel_l = f"{r['latency_s'] / b['latency_s']:.2f}" if b and b["latency_s"] > 0 else "n/a"
        sd = lambda k, scale=1.0, fmt=".1f": (  # noqa: E731
            f" ± {scale * r[k + '_sd']:{fmt}}" if "seeds" in r else "")
        lines.append(f"| {r['policy']} | {r['condition']} | {r['n']} | {r['accuracy']:.1f}{sd('accuracy')} "
                     f"[{r['acc_lo']:.1f}, {r['acc_hi']:.1f}] | {r['cost_usd']:.4f}{sd('cost_usd', fmt='.4f')} "
                     f"[{r['cost_lo']:.4f}, {r['cost_hi']:.4f}] | {r['latency_s']:.0f} | {rel_c} | {rel_l} | "
                     f"{100 * r['respect_avoid']:.0f}%{sd('respect_avoid', 100, '.0f')} | {100 * r['api_share']:.0f}% |")
    return "\n".join(lines) + ("\n\nSeeded rows: mean ± std over the router's seeds; brackets span the seeds' "
                               "95% intervals (lowest low, highest high).\n")


def main(argv: Sequence[str] | None = None, config: AdherenceConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_run_config(argv, AdherenceConfig(), __doc__)
    return record_and_print("preference_adherence", config, run, lambda rows: (
        f"FRAMES-v0 test split. Routers: max_turns {config.max_turns}, default catalogue, the trained router "
        f"{config.router_steps} env steps per seed and condition; prompted orchestrators: Table 1's all_tools "
        "catalogue, 50 turns, billing their own tokens.\n\n" + markdown(rows)))


if __name__ == "__main__":
    main()
