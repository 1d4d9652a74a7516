"""Training the LLM policy: untrained base, SFT warm start, SFT + GRPO, on held-out FRAMES tasks.

Per seed: :mod:`agents.sft` imitates the demonstrators' train-split episodes (the Bayes router
and fixed baselines, rendered as the policy's own tool-call text) into a LoRA adapter; then
:mod:`agents.grpo` trains a fresh adapter on top of the merged SFT policy (its KL reference) on
train-split tasks with the env's reward. Every row is scored on the same seeded sample of
*test*-split tasks (paired), sampling at temperature 1 as in training; the demonstrators are
scored on those tasks too, for reference.

The world is chosen so the comparison fits 2 CPUs in minutes and still means something:

* the tiny random-weight Qwen3 of :mod:`orchestra_env.tiny_lm` with its final norm x16
  (``model="tiny-peaked"``): at x1 its logits are flat and no LoRA adapter can make it write
  a 37-token tool call reliably; x16 gives it a trained LM's logit range, so what the adapter
  learns is a hidden state, as on a real model;
* ``max_turns=2`` (search, then answer; or answer at once) and a five-call menu (two search
  writers, one reasoner, a frontier and a cheap answerer, :data:`SMALL_MENU`): short episodes,
  a short prompt, and a decision whose best choice differs from most demonstrators';
* ``accuracy-first`` weights (``CostLatencyPenalty``): the demonstrators' returns differ by
  far more than their noise, so what GRPO selects shows in the reward.

Nothing is tuned on the test split: hyper-parameters were set on train-split rollouts, and
GRPO's learning rate on a validation quarter of the train split held out from SFT and GRPO
(``--select-on val``; the candidates' runs side by side: ``benchmarks.train_llm_selection``).

    orchestra bench train-llm-policy          # or: python -m benchmarks.train_llm_policy
"""
from __future__ import annotations

import copy
import functools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from benchmarks.common import RunConfig, parse_run_config, run_recorded
from benchmarks.stats import bootstrap_mean, wilson

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# aliases kept from the shipped catalogue: two search writers, one reasoner, two answerers
SMALL_MENU = ("search-2", "search-3", "reasoner-3", "answer-1", "answer-4")
ROWS = ("base", "sft", "sft+grpo")


@dataclass
class TrainLLMConfig(RunConfig):
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "training seeds", "type": int})
    model: str = field(default="tiny-peaked", metadata={"help": "PolicyConfig.model"})
    output_chars: int = field(default=300, metadata={"help": "tool output characters the policy reads"})
    max_turns: int = field(default=2, metadata={"help": "turn budget of every episode"})
    preset: str = field(default="accuracy-first", metadata={"help": "CostLatencyPenalty preset (the reward)"})
    demonstrators: str = field(default="bayes,strongest,cheapest,random", metadata={"help": "SFT demonstrators"})
    sft_episodes: int = field(default=32, metadata={"help": "SFT episodes per demonstrator"})
    sft_epochs: float = field(default=20.0, metadata={"help": "SFT passes over the demonstrations"})
    sft_lr: float = field(default=3e-3, metadata={"help": "SFT learning rate"})
    sft_batch: int = field(default=8, metadata={"help": "SFT sequences per optimiser step"})
    grpo_updates: int = field(default=60, metadata={"help": "GRPO updates"})
    grpo_tasks: int = field(default=4, metadata={
        "help": "GRPO tasks per update (epochs, updates and tasks: the validation run whose SFT+GRPO scored "
                "highest, results/train_llm_selection.md)"})
    grpo_group: int = field(default=8, metadata={"help": "GRPO rollouts per task"})
    grpo_lr: float = field(default=5e-4, metadata={
        "help": "GRPO learning rate (chosen on the validation slice, results/train_llm_selection.md: 2e-3 moved "
                "the SFT policy off-format, 2.5e-4 and 5e-4 raised its reward; a KL term to the SFT policy did not help)"})
    grpo_kl: float = field(default=0.0, metadata={"help": "GRPO KL coefficient (reference: the SFT policy)"})
    eval_tasks: int = field(default=64, metadata={"help": "held-out tasks every row is scored on"})
    select_on: str = field(default="test", metadata={
        "help": "'test': train on the train split, score on the test split; 'val': hold out val_fraction of "
                "the train split (seeded by --seed), train on the rest and score on it, to choose "
                "hyper-parameters without reading a test task"})
    val_fraction: float = field(default=0.25, metadata={"help": "share of the train split held out by --select-on val"})
    eval_batch: int = field(default=32, metadata={"help": "episodes generated together"})
    work_dir: str = field(default="runs/train_llm_policy", metadata={"help": "adapters and logs"})
    out: str = field(default="results/train_llm_policy", metadata={"help": "output stem"})

    def __post_init__(self) -> None:
        if self.select_on not in ("test", "val") or not 0 < self.val_fraction < 1:
            raise ValueError(f"select_on={self.select_on!r} (use 'test' or 'val') or val_fraction="
                             f"{self.val_fraction} outside (0, 1)")

    def slices(self) -> tuple[tuple[int, ...] | None, str, tuple[int, ...] | None]:
        """(train-split task pool of SFT and GRPO, split scored, task indices scored): the whole
        train split and the test split, or the fit and validation slices of the train split."""
        return _slices(self.select_on, self.val_fraction, self.seed)


@functools.lru_cache(maxsize=None)
def _slices(select_on: str, val_fraction: float, seed: int) -> tuple[tuple[int, ...] | None, str, tuple[int, ...] | None]:
    """:meth:`TrainLLMConfig.slices`, computed once per (select_on, val_fraction, seed): every SFT,
    GRPO and scoring config asks for it, and the validation split reads FRAMES' train split."""
    if select_on == "test":
        return None, "test", None
    from benchmarks.routing_validation import split_train
    from orchestra_env.data import load_frames

    fit, val = split_train(len(load_frames("train")), val_fraction, seed)
    return fit, "train", val


def small_catalogue() -> dict[str, Any]:
    """The shipped catalogue restricted to :data:`SMALL_MENU`'s aliases (prices unchanged)."""
    from orchestra_env.usage import Catalogue

    import yaml
    from importlib import resources

    data = yaml.safe_load(resources.files("orchestra_env").joinpath("data/catalogue.yaml").read_text())
    data["aliases"] = {k: v for k, v in data["aliases"].items() if k in SMALL_MENU}
    Catalogue.from_dict(data)  # fails here, with its message, if the shipped file changed shape
    return data


def sft_config(config: TrainLLMConfig, seed: int, out: str) -> Any:
    from agents.sft import SFTConfig

    return SFTConfig(env_kwargs={"split": "train", "max_turns": config.max_turns, "catalogue": small_catalogue()},
                     penalty=config.preset, demonstrators=config.demonstrators, episodes=config.sft_episodes,
                     task_pool=config.slices()[0],
                     epochs=config.sft_epochs, learning_rate=config.sft_lr, batch_size=config.sft_batch,
                     seed=seed, out=out)


def policy_config(config: TrainLLMConfig, start_from: str | None = None) -> Any:
    from agents.policy import PolicyConfig

    return PolicyConfig(model=config.model, start_from=start_from, max_new_tokens=48, max_context_tokens=4096,
                        tool_schemas=False, max_output_chars=config.output_chars)


def grpo_config(config: TrainLLMConfig, seed: int, log_dir: str) -> Any:
    from agents.grpo import GRPOConfig

    return GRPOConfig(env_kwargs={"split": "train", "max_turns": config.max_turns, "catalogue": small_catalogue()},
                      penalty=config.preset, reward="env", updates=config.grpo_updates, seed=seed,
                      task_pool=config.slices()[0],
                      tasks_per_update=config.grpo_tasks, group_size=config.grpo_group,
                      learning_rate=config.grpo_lr, kl_coef=config.grpo_kl, minibatch_size=8,
                      log_dir=log_dir, checkpoint_every=0, quiet=True)


def eval_envs(config: TrainLLMConfig, n: int) -> list[Any]:
    from agents.sft import make_env

    return [make_env(sft_config(config, 0, ""), split=config.slices()[1]) for _ in range(n)]


def score_policy(policy: Any, envs: Sequence[Any], n_tasks: int, seed: int,
                 tasks: Sequence[int] | None = None) -> dict[str, list[float]]:
    """Per-episode return, correctness and cost of ``policy`` on ``n_tasks`` held-out tasks
    (of ``tasks``, default all of the env's), generated ``len(envs)`` at a time
    (:func:`agents.rollout.collect`)."""
    import torch

    from agents.baselines import evaluation_resets
    from agents.rollout import collect

    tasks = range(len(envs[0].unwrapped.tasks)) if tasks is None else tasks
    resets = evaluation_resets(tasks, n_tasks, seed)  # evaluate()'s order: paired with the demonstrators' rows
    tools = tuple(envs[0].unwrapped.tools)
    episodes: dict[str, list[float]] = {"reward": [], "correct": [], "cost_usd": [], "valid": []}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for start in range(0, n_tasks, len(envs)):
            chunk = resets[start:start + len(envs)]
            for t in collect(policy, envs[:len(chunk)], chunk):
                episodes["reward"].append(t.env_return)
                episodes["correct"].append(float(t.correct))
                episodes["cost_usd"].append(t.cost_usd)
                episodes["valid"].append(float(well_formed(t, tools)))
    return episodes


def well_formed(traj: Any, tools: Sequence[str]) -> bool:
    """Every call named one of the env's tools and the episode ended with ``answer``."""
    calls = sum(traj.features.get(f"calls/{tool}", 0.0) for tool in tools)
    return traj.info.get("tool") == "answer" and calls == traj.info.get("turn")


def score_router(router: Any, env: Any, n_tasks: int, seed: int, tasks: Sequence[int] | None = None
                 ) -> dict[str, list[float]]:
    from agents.baselines import evaluate

    ep = evaluate(router, env, n_tasks=n_tasks, seed=seed, tasks=tasks)["episodes"]
    return {"reward": ep["reward"], "correct": ep["correct"], "cost_usd": ep["cost_usd"]}


def train_seed(config: TrainLLMConfig, seed: int, envs: Sequence[Any]) -> list[dict[str, Any]]:
    """Base, SFT and SFT+GRPO of one seed, each scored on the held-out tasks."""
    import torch

    from agents.grpo import GRPO
    from agents.policy import LLMPolicy
    from agents.sft import warm_start

    torch.set_num_threads(1)
    held = config.slices()[2]
    work = Path(config.work_dir) / f"seed{seed}"
    rows = []
    torch.manual_seed(seed)
    base = LLMPolicy(policy_config(config))
    rows.append(_row("base", seed, score_policy(base, envs, config.eval_tasks, config.seed, held)))
    del base
    t0 = time.perf_counter()
    sft_policy, summary = warm_start(policy_config(config), sft_config(config, seed, str(work / "sft")))
    rows.append(_row("sft", seed, score_policy(sft_policy, envs, config.eval_tasks, config.seed, held),
                     train_s=time.perf_counter() - t0, sft_loss_first=summary["first_loss"],
                     sft_loss_last=summary["last_loss"]))
    del sft_policy
    t0 = time.perf_counter()
    policy = LLMPolicy(policy_config(config, start_from=str(work / "sft")))
    history = GRPO(policy, grpo_config(config, seed, str(work / "grpo"))).train()
    train_reward = [m["reward/mean"] for m in history]
    rows.append(_row("sft+grpo", seed, score_policy(policy, envs, config.eval_tasks, config.seed, held),
                     train_s=time.perf_counter() - t0, grpo_train_reward_first=float(np.mean(train_reward[:3])),
                     grpo_train_reward_last=float(np.mean(train_reward[-3:]))))
    return rows


def _row(policy: str, seed: int | None, ep: Mapping[str, Sequence[float]], **extra: Any) -> dict[str, Any]:
    n = len(ep["reward"])
    row: dict[str, Any] = {"policy": policy, "seed": seed, "n": n}
    row.update(bootstrap_mean(ep["reward"]).as_dict("reward"))
    row.update(wilson(sum(ep["correct"]), n).as_dict("accuracy"))
    row["cost_usd"] = float(np.mean(ep["cost_usd"]))
    if "valid" in ep:
        row["valid_share"] = float(np.mean(ep["valid"]))
    row["episode_rewards"] = [float(r) for r in ep["reward"]]
    row.update(extra)
    return row


def run(config: TrainLLMConfig) -> list[dict[str, Any]]:
    from agents.sft import fit_bayes_world, make_demonstrator

    envs = eval_envs(config, config.eval_batch)
    rows: list[dict[str, Any]] = []
    world = fit_bayes_world(sft_config(config, 0, ""))
    for k, name in enumerate(config.demonstrators.split(",")):
        rows.append(_row(f"demo:{name}", None, score_router(make_demonstrator(name, k, world), envs[0],
                                                             config.eval_tasks, config.seed, config.slices()[2])))
    for seed in config.seeds:
        t0 = time.perf_counter()
        rows += train_seed(config, seed, envs)
        if config.progress:
            print(f"seed {seed}: {time.perf_counter() - t0:.0f} s; "
                  + ", ".join(f"{r['policy']} {r['reward']:.3f}" for r in rows[-3:]), flush=True)
    return rows


def summary(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One line per trained row: mean ± std over seeds of the held-out reward, and the 95%
    interval of the mean over all (seed, task) episodes."""
    out = []
    for name in ROWS:
        runs = [r for r in rows if r["policy"] == name]
        if not runs:
            continue
        means = np.array([r["reward"] for r in runs])
        pooled = [x for r in runs for x in r["episode_rewards"]]
        acc = np.array([r["accuracy"] for r in runs])
        out.append({"policy": name, "seeds": len(runs), "n": runs[0]["n"], "reward_mean": float(means.mean()),
                    "reward_std": float(means.std(ddof=1)) if len(runs) > 1 else 0.0,
                    **bootstrap_mean(pooled).as_dict("pooled"), "accuracy_mean": float(acc.mean()),
                    "accuracy_std": float(acc.std(ddof=1)) if len(runs) > 1 else 0.0,
                    "cost_usd": float(np.mean([r["cost_usd"] for r in runs])),
                    "valid_share": float(np.mean([r.get("valid_share", np.nan) for r in runs]))})
    return out


def gains(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """SFT over base and SFT+GRPO over SFT, per seed on the same tasks, against the seed spread."""
    by = {(r["policy"], r["seed"]): r["reward"] for r in rows if r["seed"] is not None}
    episodes = {(r["policy"], r["seed"]): np.array(r["episode_rewards"]) for r in rows if r["seed"] is not None}
    seeds = sorted({s for _, s in by})
    out = []
    for start, row in (("base", "sft"), ("sft", "sft+grpo")):
        have = [s for s in seeds if (start, s) in by and (row, s) in by]
        if not have:
            continue
        diff = np.array([by[(row, s)] - by[(start, s)] for s in have])
        spread = max(float(np.std([by[(p, s)] for s in have], ddof=1)) if len(have) > 1 else 0.0
                     for p in (start, row))
        paired = np.concatenate([episodes[(row, s)] - episodes[(start, s)] for s in have])  # same task, same seed
        out.append({"row": row, "start": start, "per_seed": diff.tolist(), "mean": float(diff.mean()),
                    **bootstrap_mean(paired).as_dict("paired"),
                    "std": float(diff.std(ddof=1)) if len(have) > 1 else 0.0, "seed_spread": spread})
    return out


def markdown(rows: Sequence[Mapping[str, Any]], config: TrainLLMConfig) -> str:
    seeds = sorted({r["seed"] for r in rows if r["seed"] is not None})
    n = rows[0]["n"] if rows else 0
    c = config
    scored = ("test split" if c.select_on == "test" else
              f"validation slice of the train split ({c.val_fraction:g} held out at seed {c.seed}; SFT and GRPO "
              "drew from the rest)")
    lines = [f"FRAMES-v0 {scored} ({n} tasks, paired), max_turns {c.max_turns}, {len(SMALL_MENU)}-call menu, "
             f"{c.preset} reward; `{c.model}` (random weights) with LoRA; seeds {seeds}. SFT: "
             f"{c.sft_episodes} train episodes per demonstrator ({c.demonstrators}), {c.sft_epochs:g} epochs; "
             f"GRPO: {c.grpo_updates} updates x {c.grpo_tasks} tasks x {c.grpo_group} rollouts, env reward, "
             f"lr {c.grpo_lr:g}, KL {c.grpo_kl:g}. "
             "Trained rows: mean ± std over seeds of the held-out mean reward, and the 95% bootstrap interval "
             "over all seeds' episodes; sampled at temperature 1.", "",
             "| policy | seeds | mean reward ± std [95% CI] | accuracy % ± std | well-formed episodes % | $ per task |",
             "|---|---:|---:|---:|---:|---:|"]
    for s in summary(rows):
        lines.append(f"| {s['policy']} | {s['seeds']} | {s['reward_mean']:.3f} ± {s['reward_std']:.3f} "
                     f"[{s['pooled_lo']:.3f}, {s['pooled_hi']:.3f}] | {100 * s['accuracy_mean']:.1f} ± "
                     f"{100 * s['accuracy_std']:.1f} | {100 * s['valid_share']:.0f} | {s['cost_usd']:.4f} |")
    for r in rows:
        if r["policy"].startswith("demo:"):
            lines.append(f"| {r['policy']} (reference) | – | {r['reward']:.3f} [{r['reward_lo']:.3f}, "
                         f"{r['reward_hi']:.3f}] | {100 * r['accuracy']:.1f} [{100 * r['accuracy_lo']:.1f}, "
                         f"{100 * r['accuracy_hi']:.1f}] | – | {r['cost_usd']:.4f} |")
    for gain in gains(rows):
        verdict = "more" if gain["mean"] > gain["seed_spread"] else "not more"
        lines += ["", f"**{gain['row']} - {gain['start']}** (paired: same tasks and seeds): {gain['mean']:+.3f} ± "
                  f"{gain['std']:.3f} over seeds ({', '.join(f'{d:+.3f}' for d in gain['per_seed'])}), 95% CI "
                  f"[{gain['paired_lo']:+.3f}, {gain['paired_hi']:+.3f}] over the paired episodes; {verdict} than "
                  f"the seed spread (the larger std over seeds of the two rows, {gain['seed_spread']:.3f})."]
    lines += ["", "Per seed (held-out mean reward): "
              + "; ".join(f"seed {s}: " + ", ".join(f"{r['policy']} {r['reward']:.3f}" for r in rows if r["seed"] == s)
                          for s in seeds) + "."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    config = parse_run_config(argv, TrainLLMConfig(), __doc__)
    rows, _, paths = run_recorded("train_llm_policy", config, run, markdown=lambda r: markdown(r, config))
    print(markdown(rows, config))
    print("wrote", ", ".join(map(str, paths)))
    return rows


if __name__ == "__main__":
    main()
