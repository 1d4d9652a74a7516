"""alpha-UMi vs a single LLM vs the untrained base, on ToolScale, with the tiny CPU model.

For each seed: GLPFT (both stages) on ``train_n`` verified ToolScale gold trajectories; the
single-LLM baseline (backbone only) on the same data for the same total optimizer steps; the
untrained base (LoRA adapters at zero: the base model itself). Each is scored on held-out
trajectories of the same domain (test split: users and records never trained on), on an
out-of-domain ToolScale domain, and end to end in the env on held-out tasks, decoding freely
and with the constrained call decoder (:mod:`agents.multi_agent.decoding`). Rates pooled over
seeds with Wilson 95% intervals.

    python -m benchmarks.alpha_umi                # results/alpha_umi.{csv,json,md}
    python -m benchmarks.alpha_umi --seeds 0 --train-n 8 --out /tmp/alpha_umi   # a smoke run
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from benchmarks.common import BenchConfig, markdown_table, parse_config, result_path, run_recorded


@dataclass
class AlphaUMiBench(BenchConfig):
    out: str = "results/alpha_umi"
    domain: str = "bank"
    intents: list[str] = field(default_factory=lambda: ["delete"])
    ood_domain: str = "railway"
    ood_intents: list[str] = field(default_factory=lambda: ["delete"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    family: str = "gold_like"  # "gold_like": at most two gold calls whose values the request states; "all"
    train_n: int = 120  # ~all gold-like bank delete tasks of the train split (a few hundred steps per system)
    test_n: int = 4
    ood_n: int = 2
    episodes: int = 16  # per seed: enough that one lucky task does not decide a row
    free_e2e: bool = False  # also run the episodes with free decoding (slow: the base writes max tokens each turn)
    observation_chars: int = 40  # each observation clipped in the prompt: the request's ids stay in the window
    mode: str = "copies"  # the paper's full copies: the random-weight model's frozen embeddings stall LoRA on CPU
    lr_scale: float = 60.0
    epoch_scale: float = 1.5
    max_length: int = 192  # the window below plus the longest target (~96 tokens of this BPE)
    prompt_tokens: int = 96  # one prompt window in training and generation (PromptConfig.prompt_tokens)
    max_new_tokens: int = 112  # a call with two 8-character ids is ~70 tokens of this BPE, one with an email ~100
    max_turns: int = 5
    threads: int = 1  # torch threads per worker: on a shared machine one thread is much faster than two
    workers: int = 1  # seeds trained in parallel processes (one: the machine is shared)


def _extra(parser: argparse.ArgumentParser) -> None:
    d = AlphaUMiBench()
    parser.add_argument("--seeds", type=int, nargs="+", default=d.seeds)
    parser.add_argument("--train-n", dest="train_n", type=int, default=d.train_n)
    parser.add_argument("--test-n", dest="test_n", type=int, default=d.test_n)
    parser.add_argument("--episodes", type=int, default=d.episodes)
    parser.add_argument("--epoch-scale", dest="epoch_scale", type=float, default=d.epoch_scale)
    parser.add_argument("--lr-scale", dest="lr_scale", type=float, default=d.lr_scale)
    parser.add_argument("--workers", type=int, default=d.workers)
    parser.add_argument("--mode", choices=("lora", "copies"), default=d.mode)
    parser.add_argument("--max-new-tokens", dest="max_new_tokens", type=int, default=d.max_new_tokens)
    parser.add_argument("--family", choices=("gold_like", "all"), default=d.family)
    parser.add_argument("--free-e2e", dest="free_e2e", action="store_true")
    parser.add_argument("--observation-chars", dest="observation_chars", type=int, default=d.observation_chars)
    parser.add_argument("--max-length", dest="max_length", type=int, default=d.max_length)
    parser.add_argument("--prompt-tokens", dest="prompt_tokens", type=int, default=d.prompt_tokens)


def _systems(config: AlphaUMiBench, seed: int, train: list, workdir: Path) -> dict[str, tuple[Any, bool]]:
    """name -> (team, single) for the three systems of one seed."""
    from agents.multi_agent.glpft import GLPFTConfig, Team, run_glpft, steps_of
    from agents.multi_agent.data import role_datasets
    from agents.multi_agent.roles import PromptConfig

    glpft = GLPFTConfig(mode=config.mode, lr_scale=config.lr_scale, epoch_scale=config.epoch_scale, max_length=config.max_length,
                        batch_size=8, lora_r=32, lora_alpha=64, seed=seed, prompt=_prompt(config), save_steps=10_000)
    team, state = run_glpft(train, glpft, workdir / f"team-{seed}")
    total = sum(s["steps"] for s in state["stages"].values())
    n_backbone = len(role_datasets(train, glpft.prompt)["backbone"])
    per_epoch = steps_of(n_backbone, replace(glpft, epoch_scale=1.0, single=True, single_epochs=1.0), "backbone")
    single_cfg = replace(glpft, single=True, single_epochs=total / per_epoch)  # same total steps as the team
    single, single_state = run_glpft(train, single_cfg, workdir / f"single-{seed}")
    assert abs(single_state["stages"]["backbone"]["steps"] - total) <= 1, (single_state, total)
    return {"untrained base": (Team.from_config(glpft), False), "single LLM": (single, True),
            "alpha-UMi": (team, False)}, total


def _prompt(config: AlphaUMiBench) -> Any:
    from agents.multi_agent.roles import PromptConfig

    return replace(PromptConfig.tiny(), observation_chars=config.observation_chars, prompt_tokens=config.prompt_tokens)


def _seed_rows(config: AlphaUMiBench, seed: int) -> list[dict[str, Any]]:
    """Train the three systems of one seed and score them (runs in its own process)."""
    import tempfile

    import torch

    from agents.multi_agent.alpha_umi import AlphaUMiAgent
    from agents.multi_agent.data import gold_like, toolscale_trajectories
    from agents.multi_agent.metrics import end_to_end, static_metrics
    from orchestra_env.envs.toolscale import ToolScaleEnv

    torch.set_num_threads(config.threads)
    prompt = _prompt(config)
    keep = gold_like if config.family == "gold_like" else None
    train = toolscale_trajectories(config.domain, config.train_n, intents=config.intents, keep=keep)
    test = toolscale_trajectories(config.domain, max(config.test_n, config.episodes), split="test",
                                  intents=config.intents, keep=keep)
    ood = toolscale_trajectories(config.ood_domain, config.ood_n, split="test", intents=config.ood_intents)
    env_test = ToolScaleEnv(config.domain, split="test", num_tasks=2000, max_turns=config.max_turns)
    ids = lambda trajs: {x.task_id for x in trajs}  # noqa: E731
    test_idx = [i for i, t in enumerate(env_test.tasks) if t.task_id in ids(test)][: config.episodes]
    test = test[: config.test_n]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="alpha_umi-") as tmp:
        systems, total = _systems(config, seed, train, Path(tmp))
        for name, (team, single) in systems.items():
            kw = dict(single=single, max_new_tokens=config.max_new_tokens, max_length=config.max_length)
            started = time.perf_counter()
            held = static_metrics(team, test, prompt, **kw)
            out = static_metrics(team, ood, prompt, **kw)
            agent = AlphaUMiAgent(team, prompt, single=single, max_new_tokens=config.max_new_tokens,
                                  max_length=config.max_length)
            e2e_test = end_to_end(agent, env_test, test_idx, seed=seed) if config.free_e2e else {}
            agent.constrained = True  # the same team, calls decoded from the env's tools and the history
            e2e_ctest = end_to_end(agent, env_test, test_idx, seed=seed)
            rows.append({
                "system": name, "seed": seed, "train_steps": 0 if name == "untrained base" else total,
                **{f"heldout_{k}": v for k, v in held.as_dict().items()},
                **{f"ood_{k}": v for k, v in out.as_dict().items()},
                **{f"e2e_test_{k}": v for k, v in e2e_test.items() if k != "success_ci95"},
                **{f"e2ec_test_{k}": v for k, v in e2e_ctest.items() if k != "success_ci95"},
                "eval_s": time.perf_counter() - started,
            })
    return rows


def run(config: AlphaUMiBench) -> list[dict[str, Any]]:
    """Seeds in parallel worker processes (one torch thread each), rows in seed order."""
    from concurrent.futures import ProcessPoolExecutor

    if config.workers <= 1:
        return [r for seed in config.seeds for r in _seed_rows(config, seed)]
    with ProcessPoolExecutor(max_workers=config.workers) as pool:
        per_seed = list(pool.map(_seed_rows, [config] * len(config.seeds), config.seeds))
    return [r for rows in per_seed for r in rows]


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pooled over seeds: rates with Wilson 95% intervals (n = pooled steps / calls / episodes)."""
    from agents.multi_agent.metrics import wilson

    out = []
    for name in dict.fromkeys(r["system"] for r in rows):
        rs = [r for r in rows if r["system"] == name]
        row: dict[str, Any] = {"system": name, "seeds": len(rs), "train_steps": rs[0]["train_steps"]}
        for split in ("heldout", "ood"):
            steps = sum(r[f"{split}_n_steps"] for r in rs)
            calls = sum(r[f"{split}_n_calls"] for r in rs)
            for metric, n_key, n in (("plan_acc", "n_steps", steps), ("action_em", "n_calls", calls)):
                hits = sum(r[f"{split}_{metric}"] * r[f"{split}_{n_key}"] for r in rs)
                lo, hi = wilson(hits, n)
                row[f"{split} {metric}"] = f"{hits / max(n, 1):.2f} [{lo:.2f}, {hi:.2f}] n={n}"
            for metric in ("arg_f1", "hallucination", "rouge_l"):
                vals = [r[f"{split}_{metric}"] for r in rs]
                row[f"{split} {metric}"] = f"{sum(vals) / len(vals):.2f} ({min(vals):.2f}-{max(vals):.2f})"
        splits = [s for s in ("e2e_test", "e2ec_test") if f"{s}_n" in rs[0]]
        for split in splits:
            n = sum(r[f"{split}_n"] for r in rs)
            wins = sum(r[f"{split}_success"] * r[f"{split}_n"] for r in rs)
            lo, hi = wilson(wins, n)
            row[f"{split} success"] = f"{wins / max(n, 1):.2f} [{lo:.2f}, {hi:.2f}] n={n}"
        for split in splits:
            row[f"{split} $/task"] = sum(r[f"{split}_mean_cost_usd"] for r in rs) / len(rs)
            row[f"{split} wall s/task"] = sum(r[f"{split}_mean_wall_s"] for r in rs) / len(rs)
        out.append(row)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv, AlphaUMiBench(), __doc__, _extra)
    rows, record, paths = run_recorded("alpha_umi", config, run)
    table = summarize(rows)
    md = result_path(config.out, ".md")
    md.write_text(
        "# alpha-UMi on ToolScale (tiny random-weight Qwen3, CPU)\n\n"
        f"Generated by `python -m benchmarks.alpha_umi` at commit `{record.git_commit}` "
        f"(dirty: {record.git_dirty}), {record.duration_s:.0f} s. Config: `{json.dumps(record.config, sort_keys=True)}`.\n\n"
        "Rates pooled over seeds, `rate [Wilson 95%] n=`; arg F1 / hallucination / Rouge-L: mean over seeds "
        "(min-max). held-out: test-split trajectories of the training domain; ood: another ToolScale domain; "
        "Task family (`family`): `gold_like` keeps tasks with at most two gold calls whose argument values the user's "
        "request states (train and test alike; the agent never sees the gold). "
        "e2e: episodes in the env with the scripted user on held-out test tasks (same templates as the training tasks, "
        "other users and records), the env's own reward (DB equal to the gold calls' and required answers told); "
        "`e2e` decodes freely (only with `free_e2e`), `e2ec` with the constrained call decoder "
        "(tool names from the env, keys from the chosen tool's schema, string values from the history's spans; "
        "agents/multi_agent/decoding.py), so its hallucination is 0 by construction. $ and s per task: the env's accounting and the agent's wall-clock.\n\n"
        + markdown_table(table) + "\nSee docs/alpha_umi.md for what these CPU figures can and cannot say.\n")
    print(md.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
