"""``orchestra demo`` and ``orchestra eval``: run ``agents.baselines`` on registered envs and
print accuracy, $ and seconds per task."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

DEMO_POLICIES = ("cheapest", "heuristic", "strongest", "agents.trained_router:shipped")
"""The baselines and the shipped trained router (agents/data/minilm_router.pt, made by
``python -m agents.trained_router --preset toolorchestra``: our GRPO on the train split, 4-turn budget)."""


def make_any_policy(spec: str) -> Any:
    """A baseline name (``"heuristic"``) or ``"package.module:factory"`` (called with no arguments)."""
    module, colon, attr = spec.partition(":")
    if colon and "." in module:
        import importlib

        return getattr(importlib.import_module(module), attr)()
    from agents.baselines import make_baseline

    return make_baseline(spec)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of evaluation results (one row per policy)."""
    header = f"{'policy':24s} {'tasks':>5s} {'accuracy':>9s} {'$/task':>9s} {'s/task':>8s} {'turns':>6s}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['policy']:24s} {r['n_tasks']:5d} {r['accuracy']:9.3f} {r['mean_cost_usd']:9.4f} "
            f"{r['mean_latency_s']:8.1f} {r['mean_turns']:6.2f}"
        )
    return "\n".join(lines)


def _episode_progress(env: Any, total: int, desc: str) -> Any:
    """Wrap ``env`` so a tqdm bar (stderr) ticks once per finished episode."""
    import gymnasium as gym
    from tqdm.auto import tqdm

    class EpisodeProgress(gym.Wrapper):
        def __init__(self, inner: gym.Env) -> None:
            super().__init__(inner)
            self.bar = tqdm(total=total, desc=desc, unit="task", leave=False)

        def step(self, action: Any) -> Any:
            out = self.env.step(action)
            if out[2] or out[3]:
                self.bar.update(1)
            return out

        def close(self) -> None:
            self.bar.close()
            super().close()

    return EpisodeProgress(env)


def evaluate_policy(policy: str, env_id: str, n: int, seed: int, env_kwargs: dict[str, Any],
                    log: str | None = None, show_progress: bool = True) -> dict[str, Any]:
    """One baseline on ``n`` tasks of ``env_id``: the row :func:`format_table` prints."""
    import gymnasium as gym

    import orchestra_env  # noqa: F401 - registers the ids
    from agents.baselines import evaluate
    from orchestra_env.trajectories import RecordTrajectories

    env = gym.make(env_id, **env_kwargs)
    if log:
        env = RecordTrajectories(env, log)
    if show_progress:
        env = _episode_progress(env, n, policy)
    agent = make_any_policy(policy)
    try:
        result = evaluate(agent, env, n_tasks=n, seed=seed)
    finally:
        env.close()
    return {"policy": getattr(agent, "name", policy), "env": env_id, "seed": seed, **result}


def demo(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="orchestra demo",
                                description="Baselines on a FRAMES subset: accuracy, $ and seconds per task.")
    p.add_argument("--n", type=int, default=30, help="number of questions (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--policies", nargs="+", default=list(DEMO_POLICIES),
                   help="baseline names or package.module:factory (default: %(default)s)")
    p.add_argument("--out", help="also write the rows as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    print(f"FRAMES-v0, {args.n} test-split questions, simulated experts, local BM25 search (seed {args.seed})")
    print("First run builds the search index once (about 10-30 s); it is cached afterwards.\n")
    rows = [evaluate_policy(policy, "Orchestra/FRAMES-v0", args.n, args.seed, {"split": "test"},
                            show_progress=not args.quiet) for policy in args.policies]
    print(format_table(rows))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
        print(f"\nwrote {args.out}")
    return 0


def eval_one(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="orchestra eval", description="Evaluate one baseline policy on one environment.")
    p.add_argument("--env", default="Orchestra/FRAMES-v0")
    p.add_argument("--policy", default="heuristic",
                   help="random | cheapest | strongest | heuristic | thorough | prompted | oracle | "
                        "package.module:factory (e.g. agents.trained_router:shipped)")
    p.add_argument("--n", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--env-kwargs", help='JSON passed to gym.make, e.g. \'{"split": "test"}\'')
    p.add_argument("--log", help="append every episode (actions, outputs, costs) to this JSONL log")
    p.add_argument("--out", help="write the result row as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    env_kwargs = json.loads(args.env_kwargs) if args.env_kwargs else {}
    row = evaluate_policy(args.policy, args.env, args.n, args.seed, env_kwargs, args.log, show_progress=not args.quiet)
    print(format_table([row]))
    if args.out:
        Path(args.out).write_text(json.dumps(row, indent=2))
    return 0
