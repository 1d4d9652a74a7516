"""Can learner settings chosen on a *train* slice close the routing gap to the Bayes router?

The routing benchmark's learners use fixed settings (``RouterConfig``'s defaults, SB3 PPO's). This
run asks, without looking at the test split, whether other settings or more env steps (the same for
GRPO and PPO) would reach the Bayes router: a quarter of the FRAMES *train* tasks (seeded) is held
out as a validation slice; every learner variant trains on the other three quarters and is scored,
greedy, on the validation slice, beside the Bayes router and the random router on the same
episodes (paired). A variant that closes the gap here is the one to rerun on the test split with
``benchmarks.routing``; nothing here reads a test task.

    python -m benchmarks.routing_validation --out results/routing_validation
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import gymnasium as gym
import numpy as np

from benchmarks.common import RunConfig, parse_run_config, record_and_print, spawn_map
from benchmarks.routing import checkpoint_rows, make_view, normalised, paired_gap, partial_path, text_env
from benchmarks.stats import bootstrap_mean

# variant name -> (learner, env steps, RouterConfig overrides)
VARIANTS: dict[str, tuple[str, int, dict[str, Any]]] = {
    "grpo default, 1000 steps": ("minilm_router", 1000, {}),
    "grpo entropy 0.1, 1000 steps": ("minilm_router", 1000, {"entropy_coef": 0.1}),
    "grpo default, 2000 steps": ("minilm_router", 2000, {}),
    # aimed at cost-first/speed-first's collapse onto the cheapest answer at 1000 steps (issue 11)
    "grpo entropy 0.1 lr 5e-4, 1000 steps": ("minilm_router", 1000, {"entropy_coef": 0.1, "learning_rate": 5e-4}),
    "grpo entropy 0.05 lr 5e-4, 1000 steps": ("minilm_router", 1000, {"entropy_coef": 0.05, "learning_rate": 5e-4}),
    "grpo entropy 0.05, 4 tasks/update, 1000 steps": ("minilm_router", 1000, {"entropy_coef": 0.05,
                                                                             "tasks_per_update": 4}),
    "grpo preference, entropy 0.05 lr 5e-4, 1000 steps": ("minilm_router", 1000, {
        "reward": "preference", "entropy_coef": 0.05, "learning_rate": 5e-4}),
    "grpo 4 tasks/update, 1000 steps": ("minilm_router", 1000, {"tasks_per_update": 4}),
    "grpo entropy 0.1, 4 tasks/update, 1000 steps": ("minilm_router", 1000, {"entropy_coef": 0.1,
                                                                            "tasks_per_update": 4}),
    "grpo entropy 0.05, 4 tasks/update, 4 epochs, 1000 steps": ("minilm_router", 1000, {
        "entropy_coef": 0.05, "tasks_per_update": 4, "epochs": 4}),
    "grpo entropy 0.05, 4 tasks/update, lr 2e-3, 1000 steps": ("minilm_router", 1000, {
        "entropy_coef": 0.05, "tasks_per_update": 4, "learning_rate": 2e-3}),
    "grpo entropy 0.05, group 16, 1000 steps": ("minilm_router", 1000, {"entropy_coef": 0.05, "group_size": 16}),
    "grpo entropy 0.05, 1 epoch, 1000 steps": ("minilm_router", 1000, {"entropy_coef": 0.05, "epochs": 1}),
    "ppo default, 1000 steps": ("sb3_ppo", 1000, {}),
    "ppo default, 2000 steps": ("sb3_ppo", 2000, {}),
    # is accuracy-first's gap to the Bayes router a question of env steps? (issue 11)
    "grpo default, 10000 steps": ("minilm_router", 10_000, {}),
    "grpo 4 tasks/update, 10000 steps": ("minilm_router", 10_000, {"tasks_per_update": 4}),
    "ppo default, 10000 steps": ("sb3_ppo", 10_000, {}),
}


@dataclass
class ValidationConfig(RunConfig):
    presets: list[str] = field(default_factory=lambda: ["accuracy-first", "toolorchestra"],
                               metadata={"help": "CostLatencyPenalty presets"})
    variants: list[str] = field(default_factory=lambda: list(VARIANTS),
                                metadata={"help": "subset of: " + "; ".join(VARIANTS)})
    seeds: list[int] = field(default_factory=lambda: [0, 1], metadata={"help": "learner seeds", "type": int})
    val_fraction: float = field(default=0.25, metadata={"help": "share of the train split held out for scoring"})
    max_turns: int = field(default=4, metadata={"help": "turn budget of every episode"})
    fit_tasks: int = field(default=40, metadata={"help": "train tasks of the Bayes router's evidence estimates"})
    workers: int = field(default=2, metadata={"help": "processes that train learner runs in parallel"})
    out: str = field(default="results/routing_validation", metadata={"help": "output stem"})

    def __post_init__(self) -> None:
        unknown = sorted(set(self.variants) - set(VARIANTS))
        if unknown or not 0 < self.val_fraction < 1:
            raise ValueError(f"unknown variants {unknown} (choose from {list(VARIANTS)}) or val_fraction outside (0, 1)")


def split_train(n_tasks: int, val_fraction: float, seed: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(fit tasks, validation tasks) of the train split: a seeded permutation, disjoint."""
    order = np.random.default_rng(seed).permutation(n_tasks)
    n_val = max(1, int(round(val_fraction * n_tasks)))
    return tuple(int(i) for i in order[n_val:]), tuple(int(i) for i in order[:n_val])


class TaskPool(gym.Wrapper):
    """Reset onto a task drawn from ``pool`` (SB3 PPO trains on the fit slice only)."""

    def __init__(self, env: gym.Env, pool: Sequence[int], seed: int) -> None:
        super().__init__(env)
        self.pool, self.rng = np.asarray(pool), np.random.default_rng(seed)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        options = {**(options or {}), "task_index": int(self.rng.choice(self.pool))}
        return self.env.reset(seed=seed, options=options)


def pool_episodes(env: Any, policy: Callable[[Any, Any], Any], begin: Callable[[Any, Any, Any], None] | None,
                  tasks: Sequence[int], seed: int) -> list[float]:
    """Episode returns of ``policy`` on each of ``tasks`` (episode seeds ``seed + i``: paired)."""
    out = []
    for i, t in enumerate(tasks):
        obs, info = env.reset(seed=seed + i, options={"task_index": int(t)})
        if begin is not None:
            begin(env, obs, info)
        total, done = 0.0, False
        while not done:
            obs, r, terminated, truncated, info = env.step(policy(obs, info))
            total += float(r)
            done = terminated or truncated
        out.append(total)
    return out


def learner_job(job: tuple[str, str, int, ValidationConfig]) -> dict[str, Any]:
    """Train one (preset, variant, seed) on the fit slice; its greedy returns on the validation slice."""
    import torch

    from agents.routing_view import routing_policy

    preset, variant, seed, config = job
    torch.set_num_threads(1)
    learner, steps, overrides = VARIANTS[variant]
    n_train = len(text_env("train", preset, config.max_turns).unwrapped.tasks)
    fit, val = split_train(n_train, config.val_fraction, config.seed)
    val_view = make_view("train", preset, config.max_turns)
    t0 = time.perf_counter()
    if learner == "sb3_ppo":
        from stable_baselines3 import PPO

        model = PPO("MlpPolicy", TaskPool(make_view("train", preset, config.max_turns), fit, seed),
                    n_steps=256, batch_size=64, seed=seed, verbose=0)
        model.learn(total_timesteps=steps)
        act, taken = routing_policy(model), int(model.num_timesteps)
    else:
        from agents.routers import RouterConfig, train_router

        rc = RouterConfig(seed=seed, updates=10**9, max_env_steps=steps, task_pool=fit, **overrides)
        envs = [make_view("train", preset, config.max_turns) for _ in range(rc.group_size)]
        router, history = train_router(envs, rc)
        act, taken = routing_policy(router, view=val_view), int(history[-1]["env_steps"])
    train_s = time.perf_counter() - t0
    rewards = pool_episodes(val_view, lambda obs, info: act(obs), None, val, config.seed)
    return {"preset": preset, "policy": variant, "seed": seed, "env_steps": taken,
            "train_s": round(train_s, 1), "n": len(rewards), "reward": float(np.mean(rewards)),
            "episode_rewards": rewards}


def run(config: ValidationConfig) -> list[dict[str, Any]]:
    import torch

    from agents.baselines import make_baseline
    from agents.bayes_router import BayesRouter, fit_world

    torch.set_num_threads(1)
    fit_env = text_env("train", "cost-first", config.max_turns)
    world = fit_world(fit_env, config.fit_tasks, seed=10_000, n_cost_tasks=5)
    n_train = len(fit_env.unwrapped.tasks)
    fit_env.close()
    _, val = split_train(n_train, config.val_fraction, config.seed)
    rows: list[dict[str, Any]] = []
    for preset in config.presets:
        env = text_env("train", preset, config.max_turns)
        for name, policy in (("bayes", BayesRouter(world)), ("random", make_baseline("random", seed=config.seed))):
            rewards = pool_episodes(env, policy.act, policy.begin, val, config.seed)
            rows.append({"preset": preset, "policy": name, "n": len(rewards), "reward": float(np.mean(rewards)),
                         "episode_rewards": rewards})
        env.close()
    jobs = [(p, v, s, config) for p in config.presets for v in config.variants for s in config.seeds]
    for i, row in enumerate(spawn_map(learner_job, jobs, config.workers), 1):
        rows.append(row)
        checkpoint_rows(config, rows)
        if config.progress:
            print(f"runs {i}/{len(jobs)}: {row['preset']} {row['policy']} seed {row['seed']} "
                  f"reward {row['reward']:.3f} ({row['train_s']:.0f} s)", file=sys.stderr, flush=True)
    partial_path(config).unlink(missing_ok=True)
    return rows


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| preset | policy | n | mean reward [95% CI] (seed-mean per episode) | normalised (random 0, bayes 1), "
             "mean ± std over seeds | - bayes (paired, 95% CI) |", "|---|---|---:|---:|---:|---:|"]
    for preset in dict.fromkeys(r["preset"] for r in rows):
        here = [r for r in rows if r["preset"] == preset]
        bayes = next(r for r in here if r["policy"] == "bayes")
        rand = next(r for r in here if r["policy"] == "random")["reward"]
        for name in dict.fromkeys(r["policy"] for r in here):
            runs = [r for r in here if r["policy"] == name]
            ep = np.mean([r["episode_rewards"] for r in runs], axis=0)
            b = bootstrap_mean(ep)
            norm = np.array([normalised(r["reward"], bayes["reward"], rand) for r in runs])
            sd = norm.std(ddof=1) if len(norm) > 1 else 0.0
            label = f"{name} ({len(runs)} seeds)" if "seed" in runs[0] else name
            gap = paired_gap(ep, bayes["episode_rewards"]) if name != "bayes" else ""
            lines.append(f"| {preset} | {label} | {runs[0]['n']} | {b.value:.3f} [{b.low:.3f}, {b.high:.3f}] | "
                         f"{norm.mean():.2f} ± {sd:.2f} | {gap} |")
    return "\n".join(lines) + ("\n\nScored on the held-out validation slice of the train split (paired episodes); "
                               "learners trained on the rest of the train split. The Bayes router's evidence "
                               "estimates come from train tasks that may include the slice.\n")


def main(argv: Sequence[str] | None = None, config: ValidationConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_run_config(argv, ValidationConfig(), __doc__)
    return record_and_print("routing_validation", config, run, lambda rows: (
        f"FRAMES-v0 train split: {config.val_fraction:.0%} of its tasks held out (seed {config.seed}), "
        f"max_turns {config.max_turns}.\n\n" + markdown(rows)))


if __name__ == "__main__":
    main()
