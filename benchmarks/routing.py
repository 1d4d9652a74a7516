"""Routing on FRAMES-v0: SB3 PPO vs our MiniLM routers (GRPO) at equal env steps, vs the oracle.

The learners (SB3 PPO; the frozen-MiniLM router; the MiniLM+LoRA router, which also fine-tunes
MiniLM on the task text) see the same RoutingView (Discrete tool x model actions, MiniLM observation) of
FRAMES-v0 (train split, simulated pool) with the ``cost-first`` CostLatencyPenalty reward, and
are scored on held-out test-split tasks, greedily. The oracle router (cheapest model that would
be right, looked up in the simulator) is the ceiling; random / cheapest / strongest frame it.

    orchestra bench routing --steps 3000 --eval-tasks 100  [--learners sb3_ppo minilm_lora_router]
    python -m benchmarks.routing --out results/routing

Writes ``results/routing.{csv,json,md}``: per policy the mean test reward, its share of the
oracle's, the share of the random-to-oracle gap it closes, and (learners) training time.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from benchmarks.common import RunConfig, parse_run_config, run_recorded

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_view(split: str, max_turns: int):
    import gymnasium as gym
    import orchestra_env  # noqa: F401
    from orchestra_env.wrappers import CostLatencyPenalty

    from agents.routing_view import RoutingView

    text_env = CostLatencyPenalty.preset(gym.make("Orchestra/FRAMES-v0", split=split, max_turns=max_turns), "cost-first")
    return RoutingView(text_env)


def sb3_ppo(args: "RoutingConfig", test_view):
    from stable_baselines3 import PPO

    from agents.routing_view import routing_policy

    model = PPO("MlpPolicy", make_view("train", args.max_turns), n_steps=256, batch_size=64, seed=args.seed, verbose=0)
    model.learn(total_timesteps=args.steps)
    return routing_policy(model), model.num_timesteps


def grpo_router(encoder: str):
    """Our GRPO router with the frozen MiniLM features or the MiniLM+LoRA encoder."""
    def learn(args: "RoutingConfig", test_view):
        from agents.routers import RouterConfig, train_router
        from agents.routing_view import routing_policy

        config = RouterConfig(seed=args.seed, updates=10**9, max_env_steps=args.steps, encoder=encoder)
        envs = [make_view("train", args.max_turns) for _ in range(config.group_size)]
        router, history = train_router(envs, config)
        return routing_policy(router, view=test_view), int(history[-1]["env_steps"])
    return learn


LEARNERS = {"sb3_ppo": sb3_ppo, "minilm_router": grpo_router("frozen"), "minilm_lora_router": grpo_router("lora")}


BASELINES = ("oracle", "random", "cheapest", "strongest", "heuristic")


@dataclass
class RoutingConfig(RunConfig):
    steps: int = field(default=3000, metadata={"help": "training env steps for each learner"})
    eval_tasks: int = field(default=100, metadata={"help": "test-split tasks each policy is scored on"})
    max_turns: int = field(default=4, metadata={"help": "turn budget of the routing view"})
    learners: list[str] = field(default_factory=lambda: list(LEARNERS),
                                metadata={"help": "subset of " + " ".join(LEARNERS)})
    out: str = field(default="results/routing", metadata={"help": "output stem"})


def measure(config: RoutingConfig) -> list[dict[str, Any]]:
    """Baselines, then each learner trained for ``steps`` env steps, all scored greedily."""
    import torch

    from agents.baselines import evaluate
    from agents.routing_view import mean_return

    unknown = sorted(set(config.learners) - set(LEARNERS))
    if unknown:
        raise ValueError(f"unknown learners {unknown}; choose from {sorted(LEARNERS)}")
    torch.set_num_threads(1)  # MiniLM on 2 busy cores is ~20x slower with thread contention
    test_view = make_view("test", config.max_turns)
    rows: list[dict[str, Any]] = []
    for name in BASELINES:
        reward = evaluate(name, test_view.env, n_tasks=config.eval_tasks, seed=config.seed)["mean_reward"]
        rows.append({"policy": name, "kind": "baseline", "mean_reward": reward})
    for name in config.learners:
        t0 = time.perf_counter()
        policy, steps = LEARNERS[name](config, test_view)
        train_s = time.perf_counter() - t0
        rows.append({"policy": name, "kind": "learner", "train_s": train_s, "env_steps": steps,
                     "mean_reward": mean_return(test_view, policy, config.eval_tasks, config.seed)})
    floor, ceiling = rows[1]["mean_reward"], rows[0]["mean_reward"]  # random, oracle
    for r in rows:
        r["of_oracle"] = r["mean_reward"] / ceiling
        r["gap_closed"] = (r["mean_reward"] - floor) / (ceiling - floor) if ceiling != floor else float("nan")
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| policy | mean reward | / oracle | gap closed | training |", "|---|---:|---:|---:|---|"]
    for r in rows:
        train = f"{r['train_s']:.0f} s, {r['env_steps']:,} env steps" if r["kind"] == "learner" else ""
        lines.append(f"| {r['policy']} | {r['mean_reward']:.3f} | {r['of_oracle']:.2f} | {r['gap_closed']:.2f} | {train} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, config: RoutingConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_run_config(argv, RoutingConfig(), __doc__)
    rows, record, paths = run_recorded("routing", config, measure, markdown=markdown)
    print(f"FRAMES-v0 routing view, cost-first reward, {config.eval_tasks} test tasks, "
          f"{config.steps} training env steps per learner")
    print(markdown(rows))
    print(f"wrote {', '.join(map(str, paths))} ({record.duration_s:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
