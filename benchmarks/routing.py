"""Routing on FRAMES-v0: SB3 PPO vs our MiniLM routers (GRPO) at equal env steps, vs the oracle.

The learners (SB3 PPO; the frozen-MiniLM router; the MiniLM+LoRA router, which also fine-tunes
MiniLM on the task text) see the same RoutingView (Discrete tool x model actions, MiniLM observation) of
FRAMES-v0 (train split, simulated pool) with the ``cost-first`` CostLatencyPenalty reward, and
are scored on held-out test-split tasks, greedily. The oracle router (cheapest model that would
be right, looked up in the simulator) is the ceiling; random / cheapest / strongest frame it.

    python benchmarks/routing.py --steps 3000 --eval-tasks 100  [--learners sb3_ppo,minilm_lora_router]
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_view(split: str, max_turns: int):
    import gymnasium as gym
    import orchestra_env  # noqa: F401
    from orchestra_env.wrappers import CostLatencyPenalty

    from agents.routing_view import RoutingView

    text_env = CostLatencyPenalty.preset(gym.make("Orchestra/FRAMES-v0", split=split, max_turns=max_turns), "cost-first")
    return RoutingView(text_env)


def sb3_ppo(args: argparse.Namespace, test_view):
    from stable_baselines3 import PPO

    from agents.routing_view import routing_policy

    model = PPO("MlpPolicy", make_view("train", args.max_turns), n_steps=256, batch_size=64, seed=args.seed, verbose=0)
    model.learn(total_timesteps=args.steps)
    return routing_policy(model), model.num_timesteps


def grpo_router(encoder: str):
    """Our GRPO router with the frozen MiniLM features or the MiniLM+LoRA encoder."""
    def learn(args: argparse.Namespace, test_view):
        from agents.routers import RouterConfig, train_router
        from agents.routing_view import routing_policy

        config = RouterConfig(seed=args.seed, updates=10**9, max_env_steps=args.steps, encoder=encoder)
        envs = [make_view("train", args.max_turns) for _ in range(config.group_size)]
        router, history = train_router(envs, config)
        return routing_policy(router, view=test_view), int(history[-1]["env_steps"])
    return learn


LEARNERS = {"sb3_ppo": sb3_ppo, "minilm_router": grpo_router("frozen"), "minilm_lora_router": grpo_router("lora")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="env steps for each learner")
    parser.add_argument("--eval-tasks", type=int, default=100)
    parser.add_argument("--max-turns", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learners", default=",".join(LEARNERS), help="comma-separated subset of " + ",".join(LEARNERS))
    args = parser.parse_args()

    import torch

    from agents.baselines import evaluate
    from agents.routing_view import mean_return

    torch.set_num_threads(1)  # MiniLM on 2 busy cores is ~20x slower with thread contention
    test_view = make_view("test", args.max_turns)
    scores: dict[str, float] = {}
    for name in ("oracle", "random", "cheapest", "strongest", "heuristic"):
        scores[name] = evaluate(name, test_view.env, n_tasks=args.eval_tasks, seed=args.seed)["mean_reward"]

    times: dict[str, str] = {}
    for name in args.learners.split(","):
        t0 = time.perf_counter()
        policy, steps = LEARNERS[name](args, test_view)
        times[name] = f"{time.perf_counter() - t0:.0f}s ({steps} env steps)"
        scores[name] = mean_return(test_view, policy, args.eval_tasks, args.seed)

    floor, ceiling = scores["random"], scores["oracle"]
    print(f"FRAMES-v0 routing view, cost-first reward, {args.eval_tasks} test tasks, "
          f"{args.steps} training env steps per learner")
    print(f"{'policy':19s} {'mean reward':>12s} {'/ oracle':>9s} {'gap closed':>11s}")
    for name, value in scores.items():
        closed = (value - floor) / (ceiling - floor) if ceiling != floor else float("nan")
        print(f"{name:19s} {value:12.3f} {value / ceiling:9.2f} {closed:11.2f}")
    print("train time:", ", ".join(f"{name} {t}" for name, t in times.items()))


if __name__ == "__main__":
    main()
