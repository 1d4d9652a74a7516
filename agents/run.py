"""What a training run needs around an algorithm, as plain functions: no algorithm lives here.

:mod:`agents.grpo` and :mod:`agents.ppo` each read top to bottom in one file (CleanRL's shape);
they import from here only the parts that are not the algorithm: the run's settings
(:class:`RunConfig`: which env, how long, where logs and checkpoints go), the outer loop that
repeats an algorithm's update with logging and checkpoints (:func:`train_loop`), env copies,
the task draw for an update, minibatch indices, and the checkpoint files. A checkpoint holds the adapter
(or full weights), the value head, the optimiser state, the update count and the RNG states, so
``resume=True`` continues a run where it stopped.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import gymnasium as gym
import numpy as np

if TYPE_CHECKING:
    import torch

    from agents.policy import LLMPolicy


@dataclass
class RunConfig:
    """A run's settings that are not hyper-parameters: the env, the schedule, logs, checkpoints."""

    env_id: str = "Orchestra/FRAMES-v0"
    """A registered env id (``--env``)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for ``gym.make`` (JSON on the command line)."""
    penalty: str | None = None
    """Wrap each env in ``CostLatencyPenalty.preset(env, penalty)``, e.g. ``"toolorchestra"``."""
    task_pool: tuple[int, ...] | None = None
    """Task indices (of the env's split) training draws from; None: all. Leave some train tasks
    out to choose hyper-parameters on them, never on the test split."""
    updates: int = 100
    """Updates to run (a resumed run counts the ones already done)."""
    seed: int = 0
    """Seeds torch and the task draw."""
    log_dir: str = "runs/orchestra"
    """TensorBoard logs here, checkpoints under ``<log_dir>/checkpoints``."""
    checkpoint_every: int = 50
    """Save every this many updates; 0 saves only at the end."""
    resume: bool = False
    """Continue from ``<log_dir>/checkpoints/latest.json``."""
    wandb_project: str | None = None
    """Also log to this wandb project (needs ``wandb``)."""
    quiet: bool = False
    """No stdout line per update."""


class Algorithm(Protocol):
    """What :func:`train_loop` drives: GRPO and PPO (anything with these four members)."""

    config: RunConfig
    step: int

    def update(self) -> dict[str, float]: ...

    def save_checkpoint(self) -> Path: ...


def train_loop(algo: Algorithm) -> list[dict[str, float]]:
    """``algo.update()`` until ``config.updates`` (counting ``algo.step``); log each update to
    TensorBoard (and wandb); checkpoint every ``checkpoint_every`` updates and at the end.
    Returns each update's metrics."""
    from agents.metrics import MetricsLogger

    c = algo.config
    logger = MetricsLogger(c.log_dir, config=asdict(c), wandb_project=c.wandb_project, quiet=c.quiet)
    history = []
    try:
        while algo.step < c.updates:
            t0 = time.perf_counter()
            metrics = algo.update()
            metrics["speed/update_s"] = time.perf_counter() - t0
            algo.step += 1
            logger.log(algo.step, metrics)
            history.append(metrics)
            if c.checkpoint_every and algo.step % c.checkpoint_every == 0:
                algo.save_checkpoint()
    finally:
        logger.close()
    algo.save_checkpoint()
    return history


def make_envs(config: RunConfig, n: int, envs: Sequence[gym.Env] | None = None) -> list[gym.Env]:
    """``envs`` if given (checked to be ``n``), else ``n`` copies of ``config.env_id`` (they share
    indices and pools in-process), reward-wrapped if ``config.penalty`` says so."""
    if envs is not None:
        if len(envs) != n:
            raise ValueError(f"this configuration runs {n} envs at once, got {len(envs)}")
        return list(envs)
    import orchestra_env  # noqa: F401 - registers the ids

    made = [gym.make(config.env_id, **config.env_kwargs) for _ in range(n)]
    if config.penalty:
        from orchestra_env.wrappers import CostLatencyPenalty

        made = [CostLatencyPenalty.preset(env, config.penalty) for env in made]
    return made


def task_resets(rng: np.random.Generator, pool: Sequence[int], n_groups: int, group_size: int
                ) -> tuple[list[dict[str, Any]], list[int]]:
    """``env.reset`` arguments for ``n_groups`` random tasks of ``pool`` (task indices), each
    ``group_size`` times with the *same* seed, so a group's rollouts share the task, the
    preference and the simulator's draws: they differ only by what the policy did. Also each
    reset's group index."""
    resets, groups = [], []
    for g in range(n_groups):
        seed = int(rng.integers(2**31))
        task = int(pool[int(rng.integers(len(pool)))])
        resets += [{"seed": seed, "options": {"task_index": task}}] * group_size
        groups += [g] * group_size
    return resets, groups


def task_pool(pool: Sequence[int] | None, env: gym.Env) -> Sequence[int]:
    """The task indices training draws from: ``pool`` (a config's ``task_pool``), checked
    against ``env``'s split; None: all of them."""
    n = len(env.unwrapped.tasks)
    if pool is None:
        return range(n)
    bad = [i for i in pool if not 0 <= int(i) < n]
    if bad or not len(pool):
        raise ValueError(f"task_pool must be a non-empty list of task indices in [0, {n}); got {bad or 'none'}")
    return tuple(int(i) for i in pool)


def minibatches(n: int, size: int, rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """Indices ``0..n-1`` (shuffled by ``rng`` if given) cut into chunks of ``size``."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return [order[i:i + size] for i in range(0, n, size)]


def save_checkpoint(config: RunConfig, step: int, policy: "LLMPolicy", optimizer: "torch.optim.Optimizer",
                    rng: np.random.Generator) -> Path:
    """``<log_dir>/checkpoints/update_<step>/`` (policy files + ``trainer.pt``) and ``latest.json``."""
    import torch

    root = Path(config.log_dir) / "checkpoints"
    path = root / f"update_{step:06d}"
    policy.save(path)
    torch.save({
        "optimizer": optimizer.state_dict(),
        "step": step,
        "numpy_rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "config": asdict(config),
    }, path / "trainer.pt")
    (root / "latest.json").write_text(json.dumps({"path": path.name, "step": step}))
    return path


def load_checkpoint(config: RunConfig, policy: "LLMPolicy", optimizer: "torch.optim.Optimizer",
                    rng: np.random.Generator, path: str | Path | None = None) -> int:
    """Restore weights, optimiser and RNGs (in place) from ``path`` or the run's latest checkpoint;
    returns the update count to continue from."""
    import torch

    if path is None:
        latest = Path(config.log_dir) / "checkpoints" / "latest.json"
        if not latest.is_file():
            raise FileNotFoundError(f"resume=True but {latest} does not exist; train once without --resume")
        path = latest.parent / json.loads(latest.read_text())["path"]
    path = Path(path)
    policy.load(path)
    state = torch.load(path / "trainer.pt", map_location=policy.device, weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    rng.bit_generator.state = state["numpy_rng"]
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"])
