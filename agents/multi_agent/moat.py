"""MOAT: joint alignment of a planner and an executor ("Bridging the Capability Gap", arXiv 2509.09629).

Agents trained apart drift apart: the planner writes subgoals the executor cannot turn into
the right tool calls. MOAT alternates two stages so each role adapts to the other:

1. **Planner alignment** (:func:`planner_stage`). For each training task the planner samples
   K subgoal sequences (K = 15, temperature 1.0, top-p 0.95). Each is scored by the
   executor's mean per-token cross-entropy of the task's *gold* action sequence given the
   request and those subgoals (one batched forward pass per task). DPO pair: chosen = the
   lowest loss, rejected = the highest, kept when the gap is >= 0.1. TRL's ``DPOTrainer``,
   beta 0.2, reference = the planner before the stage, cosine lr, 1 epoch.
2. **Executor improvement** (:func:`executor_stage`). The updated planner samples subgoal
   sequences; the one the executor finds easiest (lowest loss) is played in the env by the
   executor (temperature 0.1); the critic (:mod:`~agents.multi_agent.moat_critic`) accepts
   the actions or corrects them; the executor is fine-tuned (``SFTTrainer``, assistant tokens
   only) on the corrected samples plus the original grounding data.

Before the first iteration both roles are fine-tuned apart on the grounding data (gold
subgoals for the planner, gold actions given gold subgoals for the executor): stage
``iter0``, the alpha-UMi-style independent training MOAT starts from.

Checkpoints: ``<out_dir>/iter<i>/{planner,executor}`` adapter folders and ``state.json``,
which lists the finished stages; a run started again with the same ``out_dir`` skips them,
so an interrupted iteration continues with the stage it stopped in. Run it with
``python -m agents.multi_agent.moat --out-dir runs/moat --iterations 2``.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

from agents.multi_agent.moat_critic import make_critic
from agents.multi_agent.moat_data import (
    MoatTask, SplitSpec, action_text, executor_messages, gold_history, load_tasks, parse_subgoals,
    planner_messages, render_subgoals,
)
from agents.multi_agent.moat_roles import RoleConfig, Roles, encode_dialogue, encode_prompt, init_adapter, load_tokenizer
from agents.multi_agent.moat_rollout import Outcome, plan_and_run, run_episodes, sample_plans
from agents.multi_agent.moat_train import StageConfig, pretrain_base, train_dpo, train_sft


@dataclass
class MoatConfig:
    """Every MOAT knob (each is a CLI flag). Defaults are the paper's where it gives one; the
    tiny random-weight model needs larger learning rates to move within minutes: the
    benchmark sets ``dpo_lr``/``sft_lr``/``grounding_lr`` and records what it used."""

    out_dir: str = "runs/moat"
    seed: int = 0
    iterations: int = 2
    train: tuple[str, ...] = SplitSpec().train
    held_in: tuple[str, ...] = SplitSpec().held_in
    held_out: tuple[str, ...] = SplitSpec().held_out
    k: int = 15
    """Subgoal sequences sampled per training task in the planner stage."""
    plan_temperature: float = 1.0
    plan_top_p: float = 0.95
    min_gap: float = 0.1
    """Keep a DPO pair only when the executor's losses of chosen and rejected differ this much."""
    dpo_beta: float = 0.2
    dpo_lr: float = 4e-7
    sft_lr: float = 2e-5
    grounding_lr: float = 2e-5
    """Learning rate of the iter0 SFT of both roles on the grounding data."""
    grounding_epochs: float = 1.0
    epochs: float = 1.0
    """Epochs of each MOAT stage (the paper: 1)."""
    batch_size: int = 4
    exec_plans: int = 4
    """Subgoal sequences the updated planner samples per task in the executor stage (the
    lowest-loss one is played)."""
    exec_temperature: float = 0.1
    constrained: bool = True
    """Evaluation episodes decode the executor's calls through the constrained call decoder
    (:mod:`agents.multi_agent.decoding`); training samples stay free (temperature above)."""
    critic: str = "env"
    """``env`` (replay in the env, accept on success, else gold) or ``llm`` (``critic_model``)."""
    critic_model: str | None = None
    experts: str | None = None
    """Expert-pool YAML (see :mod:`orchestra_env.experts.pool`) serving ``critic_model``."""
    keep_subgoals: bool = True
    max_gold: int = 6
    lora_rank: int = 8
    model: str = "tiny"
    base_epochs: float = 0.0
    """Epochs of full-weight warm-up of the base on the training tasks' dialogues before the
    roles are created (0: use ``model`` as is). The tiny random model needs it (see
    :func:`~agents.multi_agent.moat_train.pretrain_base`); a pretrained model does not."""
    base_lr: float = 3e-3
    threads: int = 1
    """torch CPU threads. 1 by default: on a shared 2-core machine two threads fighting other
    processes made a tiny model's forward pass 30x slower than one thread."""

    def roles(self, model: str | None = None) -> RoleConfig:
        return RoleConfig(model=model or self.model, lora_rank=self.lora_rank, lora_alpha=2 * self.lora_rank)

    def __post_init__(self) -> None:
        if self.k < 2:
            raise ValueError(f"k must be >= 2 (a DPO pair needs a best and a worst sample), got {self.k}")
        if self.iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {self.iterations}")
        if self.critic not in ("env", "llm"):
            raise ValueError(f"critic must be 'env' or 'llm', not {self.critic!r}")
        if self.critic == "llm" and not self.critic_model:
            raise ValueError("critic='llm' needs critic_model=<a model served by the experts backend>")


# ----------------------------------------------------------------------------- data
def planner_sequence(tok: Any, task: MoatTask, subgoals: Sequence[str]) -> tuple[list[int], list[int]]:
    return encode_dialogue(tok, [*planner_messages(task), {"role": "assistant", "content": render_subgoals(subgoals)}])


def executor_sequence(tok: Any, task: MoatTask, subgoals: Sequence[str] | None,
                      history: Sequence[tuple[str, str]]) -> tuple[list[int], list[int]]:
    return encode_dialogue(tok, executor_messages(task, subgoals, history))


def grounding_planner(tok: Any, tasks: Sequence[MoatTask]) -> list[tuple[list[int], list[int]]]:
    return [planner_sequence(tok, t, t.gold_subgoals) for t in tasks]


def grounding_executor(tok: Any, tasks: Sequence[MoatTask]) -> list[tuple[list[int], list[int]]]:
    return [executor_sequence(tok, t, t.gold_subgoals, gold_history(t)) for t in tasks]


def gold_losses(roles: Roles, tasks: Sequence[MoatTask], plans: Sequence[Sequence[str]]) -> list[list[float]]:
    """The executor's mean per-token cross-entropy of each task's gold actions given each of
    its subgoal-sequence texts (one batch per task: all K samples at once)."""
    tok = roles.tokenizer
    out = []
    for task, texts in zip(tasks, plans):
        seqs = [executor_sequence(tok, task, parse_subgoals(p) or [p], gold_history(task)) for p in texts]
        out.append(roles.mean_nll("executor", seqs, batch_size=len(seqs)))
    return out


def dpo_pairs(roles: Roles, tasks: Sequence[MoatTask], plans: Sequence[Sequence[str]],
              losses: Sequence[Sequence[float]], min_gap: float) -> list[dict[str, str]]:
    """chosen = lowest executor loss, rejected = highest; pairs with a gap < ``min_gap`` dropped."""
    tok, end = roles.tokenizer, roles.tokenizer.eos_token
    pairs = []
    for task, texts, ls in zip(tasks, plans, losses):
        best = min(range(len(ls)), key=ls.__getitem__)
        worst = max(range(len(ls)), key=ls.__getitem__)
        if ls[worst] - ls[best] >= min_gap and texts[best] != texts[worst]:
            prompt = tok.decode(encode_prompt(tok, planner_messages(task)))
            pairs.append({"prompt": prompt, "chosen": texts[best] + end, "rejected": texts[worst] + end,
                          "task_id": task.task_id, "gap": ls[worst] - ls[best]})
    return pairs


# ----------------------------------------------------------------------------- stages
RESUMABLE_CHANGES = ("out_dir", "iterations", "threads")  # may differ when a run is continued


class Run:
    """One MOAT run's folder: adapters per iteration and the list of finished stages."""

    def __init__(self, config: MoatConfig) -> None:
        self.config = config
        self.dir = Path(config.out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_path = self.dir / "state.json"
        self.state: dict[str, Any] = (json.loads(self.state_path.read_text()) if self.state_path.is_file()
                                      else {"config": _jsonable(config), "done": [], "stats": {}})
        changed = sorted(k for k, v in _jsonable(config).items()
                         if k not in RESUMABLE_CHANGES and self.state["config"].get(k) != v)
        if changed:
            raise ValueError(f"{self.dir} holds a MOAT run with other settings ({', '.join(changed)}); "
                             "resume it with the same settings or pass a new --out-dir")

    @property
    def rc(self) -> RoleConfig:
        """The roles' config: over the warmed base once the ``base`` stage ran."""
        warmed = self.dir / "base"
        return self.config.roles(str(warmed) if self.config.base_epochs > 0 else None)

    def adapter(self, iteration: int, role: str) -> Path:
        return self.dir / f"iter{iteration}" / role

    def done(self, stage: str) -> bool:
        return stage in self.state["done"]

    def finish(self, stage: str, stats: dict[str, Any]) -> None:
        self.state["done"].append(stage)
        self.state["stats"][stage] = stats
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1))
        tmp.replace(self.state_path)  # a crash never leaves half a state file

    def roles(self, planner_iter: int, executor_iter: int) -> Roles:
        return Roles(self.rc, {"planner": self.adapter(planner_iter, "planner"),
                                           "executor": self.adapter(executor_iter, "executor")})


def base_stage(run: Run, tasks: Sequence[MoatTask]) -> dict[str, Any]:
    """Warm the base up on the training tasks' planner and executor dialogues (all tokens)."""
    c = run.config
    rc = c.roles()
    tok = load_tokenizer(rc)
    text = [ids for ids, _ in grounding_planner(tok, tasks) + grounding_executor(tok, tasks)]
    stage = StageConfig(learning_rate=c.base_lr, epochs=c.base_epochs, batch_size=c.batch_size, seed=c.seed)
    return pretrain_base(rc, run.dir / "base", text, stage)


def grounding_stage(run: Run, tasks: Sequence[MoatTask]) -> dict[str, Any]:
    """iter0: fresh adapters, each role fine-tuned apart on the gold data."""
    c = run.config
    rc = run.rc
    tok = load_tokenizer(rc)
    stage = StageConfig(learning_rate=c.grounding_lr, epochs=c.grounding_epochs, batch_size=c.batch_size, seed=c.seed)
    stats = {}
    for role, data, seed in (("planner", grounding_planner(tok, tasks), c.seed * 2 + 1),
                             ("executor", grounding_executor(tok, tasks), c.seed * 2 + 2)):
        fresh = init_adapter(rc, run.dir / "init" / role, seed)
        stats[role] = train_sft(rc, fresh, run.adapter(0, role), data, stage)
    return stats


def planner_stage(run: Run, tasks: Sequence[MoatTask], i: int) -> dict[str, Any]:
    """Iteration ``i``'s planner DPO: sample K, score by the executor of iteration i-1, DPO."""
    c = run.config
    roles = run.roles(i - 1, i - 1)
    plans = sample_plans(roles, tasks, c.k, c.plan_temperature, c.plan_top_p, seed=c.seed * 1000 + i)
    losses = gold_losses(roles, tasks, plans)
    pairs = dpo_pairs(roles, tasks, plans, losses, c.min_gap)
    folder = run.adapter(i, "planner")
    folder.parent.mkdir(parents=True, exist_ok=True)
    (folder.parent / "dpo_pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    stats: dict[str, Any] = {"pairs": len(pairs), "tasks": len(tasks),
                             "mean_gap": sum(p["gap"] for p in pairs) / max(1, len(pairs)),
                             "mean_loss": sum(map(sum, losses)) / sum(map(len, losses))}
    if pairs:
        stage = StageConfig(learning_rate=c.dpo_lr, epochs=c.epochs, batch_size=c.batch_size, seed=c.seed + i)
        stats["train"] = train_dpo(run.rc, run.adapter(i - 1, "planner"), folder,
                                   [{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs],
                                   stage, beta=c.dpo_beta)
    else:  # nothing to prefer: the planner carries over unchanged
        _copy_adapter(run.adapter(i - 1, "planner"), folder)
    return stats


def executor_stage(run: Run, tasks: Sequence[MoatTask], i: int, critic: Any) -> dict[str, Any]:
    """Iteration ``i``'s executor SFT on critic-checked samples of the new planner's subgoals."""
    c = run.config
    roles = run.roles(i, i - 1)
    plans = sample_plans(roles, tasks, c.exec_plans, c.plan_temperature, c.plan_top_p, seed=c.seed * 1000 + 500 + i)
    losses = gold_losses(roles, tasks, plans)
    chosen = [parse_subgoals(p[min(range(len(ls)), key=ls.__getitem__)]) or ["(empty plan)"]
              for p, ls in zip(plans, losses)]
    outcomes = run_episodes(roles, tasks, chosen, temperature=c.exec_temperature, seed=c.seed * 1000 + i)
    tok = roles.tokenizer
    samples, accepted = [], 0
    for task, subgoals, outcome in zip(tasks, chosen, outcomes):
        verdict = critic.judge(task, subgoals, outcome.actions)
        accepted += verdict.accepted
        if verdict.history is not None:
            samples.append(executor_sequence(tok, task, verdict.subgoals, verdict.history))
    data = samples + grounding_executor(tok, tasks)
    stage = StageConfig(learning_rate=c.sft_lr, epochs=c.epochs, batch_size=c.batch_size, seed=c.seed + i)
    train = train_sft(run.rc, run.adapter(i - 1, "executor"), run.adapter(i, "executor"), data, stage)
    return {"accepted": accepted, "corrected": len(samples) - accepted, "samples": len(data),
            "rollout_reward": sum(o.reward for o in outcomes) / len(outcomes), "train": train}


def _copy_adapter(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst, dirs_exist_ok=True)


# ----------------------------------------------------------------------------- evaluation
def summarize(outcomes: Sequence[Outcome]) -> dict[str, float]:
    n = max(1, len(outcomes))
    return {"n": len(outcomes), "task_success": sum(o.reward >= 1.0 for o in outcomes) / n,
            "step_success": sum(o.step_success for o in outcomes) / n,
            "cost_usd": sum(o.cost_usd for o in outcomes) / n, "seconds": sum(o.seconds for o in outcomes) / n}


def expected_gold_loss(roles: Roles, tasks: Sequence[MoatTask], samples: int, seed: int) -> float:
    """The executor's mean log-perplexity of the gold actions, averaged over ``samples``
    subgoal sequences the planner samples per task (temperature 1, seeded): MOAT's objective."""
    plans = sample_plans(roles, tasks, samples, 1.0, 1.0, seed)
    losses = gold_losses(roles, tasks, plans)
    return sum(map(sum, losses)) / sum(map(len, losses))


def evaluate(roles: Roles, tasks: Sequence[MoatTask], seed: int, loss_samples: int = 4,
             constrained: bool = False) -> dict[str, float]:
    metrics = summarize(plan_and_run(roles, tasks, seed=seed, constrained=constrained))
    metrics["gold_nll"] = expected_gold_loss(roles, tasks, loss_samples, seed)
    return metrics


# ----------------------------------------------------------------------------- loop
def train(config: MoatConfig, expert: Any = None, log: Callable[[str], None] = print,
          evaluate_each: bool = True, stop_after: str | None = None) -> Run:
    """Run (or resume) MOAT: [base,] iter0, then ``iterations`` x (planner DPO, executor SFT).

    Stages already listed in ``state.json`` are skipped. ``stop_after`` ends the run after the
    named stage (e.g. ``"iter1/planner"``), as an interruption would; calling ``train`` again
    with the same config continues from there. ``evaluate_each`` scores held-in and held-out
    tasks after iter0 and after each iteration (the per-iteration curve)."""
    set_threads(config.threads)
    run = Run(config)
    tasks = load_tasks(config.train, max_gold=config.max_gold)
    evals = {"held_in": load_tasks(config.held_in, max_gold=config.max_gold),
             "held_out": load_tasks(config.held_out, max_gold=config.max_gold)} if evaluate_each else {}
    critic = make_critic(config.critic, expert, config.critic_model, config.keep_subgoals)
    steps: list[tuple[str, int, Callable[[], dict[str, Any]]]] = []
    if config.base_epochs > 0:
        steps.append(("base", 0, lambda: base_stage(run, tasks)))
    steps.append(("iter0", 0, lambda: grounding_stage(run, tasks)))
    for i in range(1, config.iterations + 1):
        steps.append((f"iter{i}/planner", i, lambda i=i: planner_stage(run, tasks, i)))
        steps.append((f"iter{i}/executor", i, lambda i=i: executor_stage(run, tasks, i, critic)))
    for name, i, fn in steps:
        if run.done(name):
            log(f"[moat] {name}: done, skipped")
            continue
        start = time.perf_counter()
        stats = fn()
        stats["seconds"] = time.perf_counter() - start
        if evaluate_each and name.endswith(("iter0", "/executor")):
            roles = run.roles(i, i)
            stats["eval"] = {split: evaluate(roles, ts, seed=config.seed, constrained=config.constrained)
                             for split, ts in evals.items() if ts}
        run.finish(name, stats)
        log(f"[moat] {name}: {json.dumps(stats, default=float)[:400]}")
        if name == stop_after:
            break
    return run


def set_threads(n: int) -> None:
    import torch

    if n > 0 and torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _jsonable(config: MoatConfig) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(config), default=list))


def main(argv: list[str] | None = None) -> int:
    """``python -m agents.multi_agent.moat --out-dir DIR [--iterations 2 --k 15 ...]``."""
    parser = argparse.ArgumentParser(prog="moat", description=__doc__.split("\n\n")[0])
    for f in fields(MoatConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(MoatConfig(), f.name)
        if isinstance(default, bool):
            parser.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=default)
        elif isinstance(default, tuple):
            parser.add_argument(flag, nargs="+", default=list(default), help="task sources kind:domain:split:n")
        else:
            parser.add_argument(flag, type=type(default) if default is not None else str, default=default)
    args = vars(parser.parse_args(argv))
    config = MoatConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})
    expert = None
    if config.critic == "llm":
        from orchestra_env.experts.pool import ExpertPool

        expert = ExpertPool.from_config(config.experts)
    run = train(config)
    print(json.dumps(run.state["stats"], indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
