"""What MOAT is compared with, on the same base, tasks, gold data and number of updates.

* **independent**: the same planner and executor, trained apart (alpha-UMi style): MOAT's
  iter0 (each role SFT on its grounding data), then per iteration one more SFT epoch of each
  role on its grounding data, the executor's repeated twice so it sees as many sequences as
  MOAT's executor stage (corrected samples + grounding). No role ever sees the other's output.
* **single**: one adapter that writes the actions straight from the request (no subgoals),
  SFT on the same gold actions for the same number of epochs as the executor gets.

Both start from the run's warmed base (:func:`~agents.multi_agent.moat.base_stage`), so the
three methods differ only in how the roles are trained.
"""
from __future__ import annotations

from typing import Any, Sequence

from agents.multi_agent.moat import (
    Run, executor_sequence, grounding_executor, grounding_planner, summarize, _copy_adapter,
)
from agents.multi_agent.moat_data import MoatTask, gold_history
from agents.multi_agent.moat_roles import Roles, init_adapter, load_tokenizer
from agents.multi_agent.moat_rollout import run_episodes
from agents.multi_agent.moat_train import StageConfig, train_sft


def train_independent(run: Run, tasks: Sequence[MoatTask]) -> dict[str, Any]:
    """iter0's adapters + ``iterations`` grounding-only SFT epochs per role; in ``<run>/independent``."""
    c, rc = run.config, run.rc
    tok = load_tokenizer(rc)
    data = {"planner": grounding_planner(tok, tasks), "executor": grounding_executor(tok, tasks) * 2}
    stats: dict[str, Any] = {}
    for role in ("planner", "executor"):
        current = run.adapter(0, role)
        for i in range(1, c.iterations + 1):
            out = run.dir / "independent" / f"iter{i}" / role
            stage = StageConfig(learning_rate=c.sft_lr, epochs=c.epochs, batch_size=c.batch_size, seed=c.seed + i)
            stats[f"{role}/iter{i}"] = train_sft(rc, current, out, data[role], stage)
            current = out
        _copy_adapter(current, run.dir / "independent" / role)
    return stats


def independent_roles(run: Run) -> Roles:
    return Roles(run.rc, {"planner": run.dir / "independent" / "planner",
                          "executor": run.dir / "independent" / "executor"})


def train_single(run: Run, tasks: Sequence[MoatTask]) -> dict[str, Any]:
    """One adapter, request -> actions, as many epochs as the executor trains; ``<run>/single``."""
    c, rc = run.config, run.rc
    tok = load_tokenizer(rc)
    data = [executor_sequence(tok, t, None, gold_history(t)) for t in tasks]
    current = init_adapter(rc, run.dir / "single_init", seed=c.seed * 2 + 3)
    stats = {"iter0": train_sft(rc, current, run.dir / "single_iter0",
                                data, StageConfig(learning_rate=c.grounding_lr, epochs=c.grounding_epochs,
                                                  batch_size=c.batch_size, seed=c.seed))}
    current = run.dir / "single_iter0"
    for i in range(1, c.iterations + 1):
        out = run.dir / f"single_iter{i}"
        stats[f"iter{i}"] = train_sft(rc, current, out, data * 2, StageConfig(
            learning_rate=c.sft_lr, epochs=c.epochs, batch_size=c.batch_size, seed=c.seed + i))
        current = out
    _copy_adapter(current, run.dir / "single")
    return stats


def evaluate_single(run: Run, tasks: Sequence[MoatTask], seed: int, constrained: bool = False) -> dict[str, float]:
    roles = Roles(run.rc, {"single": run.dir / "single"})
    metrics = summarize(run_episodes(roles, tasks, None, temperature=0.0, seed=seed, constrained=constrained))
    seqs = [executor_sequence(roles.tokenizer, t, None, gold_history(t)) for t in tasks]
    losses = roles.mean_nll("single", seqs)
    metrics["gold_nll"] = sum(losses) / len(losses)
    return metrics
