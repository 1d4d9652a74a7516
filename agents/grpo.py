"""GRPO as ToolOrchestra trains its orchestrator, in one file (CleanRL's shape).

Read top to bottom: the hyper-parameters (:class:`GRPOConfig`, one docstring each), then
:class:`GRPO`, whose :meth:`~GRPO.update` is one iteration:

1. collect ``tasks_per_update`` tasks x ``group_size`` rollouts (8 in the paper) in one batch;
   a group's rollouts share task and seed;
2. score each rollout: ToolOrchestra's group-relative preference reward, or with
   ``reward="env"`` the env's own (possibly ``CostLatencyPenalty``-wrapped) return;
3. advantage = (R - mean) / (std + 1e-6) within the group, clipped to +-``advantage_clip``;
   groups with std <= ``min_group_std`` teach little and are skipped;
4. ``epochs`` passes of the clipped ratio, range [1 - 0.2, 1 + 0.28], on the policy's own
   tokens (tool outputs masked), plus ``kl_coef`` x KL to the base model.

:meth:`~GRPO.train` repeats it, with logging and checkpoints (:func:`agents.run.train_loop`).

Imported, all functions or data: rollout collection (:func:`agents.rollout.collect`), the
reward and advantage formulas (:mod:`agents.rewards`), the losses and the clipped-ratio step
shared with PPO and the router (:mod:`agents.losses`), and run plumbing that is no part of the
algorithm (:mod:`agents.run`: the outer loop, env copies, task draw, checkpoint files;
:mod:`agents.metrics`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import gymnasium as gym
import numpy as np

from agents.losses import Minibatch, TokenBatch, clipped_ratio_update
from agents.metrics import rollout_metrics
from agents.policy import LLMPolicy
from agents.rewards import group_advantages, preference_rewards
from agents.rollout import RolloutStats, Trajectory, collect
from agents.run import (RunConfig, load_checkpoint, make_envs, minibatches, save_checkpoint, task_pool,
                        task_resets, train_loop)

REWARDS = ("preference", "env")


@dataclass
class GRPOConfig(RunConfig):
    """GRPO's hyper-parameters; the env, schedule and logging fields come from :class:`RunConfig`."""

    tasks_per_update: int = 2
    """Distinct tasks per update; ``tasks_per_update * group_size`` envs run in one batch."""
    group_size: int = 8
    """Rollouts per task (ToolOrchestra: 8); the advantage is relative to the group."""
    reward: str = "preference"
    """``"preference"``: ToolOrchestra's group-relative reward from ``info["features"]`` and the
    task's preference; ``"env"``: the env's return (shape it with ``penalty``)."""
    min_group_std: float = 0.1
    """Skip a group whose rewards' std is at most this (all right or all wrong: no signal)."""
    advantage_clip: float = 3.0
    """Clip normalised advantages to [-advantage_clip, advantage_clip]."""
    learning_rate: float = 1e-5
    """AdamW step size (no weight decay)."""
    max_grad_norm: float = 1.0
    """Clip the gradient's global norm to this before each step."""
    minibatch_size: int = 8
    """Sequences per forward/backward pass."""
    epochs: int = 1
    """Passes over each update's rollouts; above 1 (or with several minibatches) the old
    log-probs are scored once before the first step."""
    clip_low: float = 0.2
    """The ratio is clipped below at 1 - clip_low."""
    clip_high: float = 0.28
    """The ratio is clipped above at 1 + clip_high (DAPO's clip-higher: room for rare tokens)."""
    kl_coef: float = 0.001
    """Weight of KL(policy || base model) per token (k3 estimator); 0 skips the reference pass."""

    def __post_init__(self) -> None:
        if self.reward not in REWARDS:
            raise ValueError(f"GRPOConfig.reward={self.reward!r}: use one of {REWARDS}")


class GRPO:
    """Group-relative policy optimisation of an :class:`~agents.policy.LLMPolicy`."""

    def __init__(self, policy: LLMPolicy, config: GRPOConfig, envs: Sequence[gym.Env] | None = None) -> None:
        import torch

        self.policy, self.config = policy, config
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.envs = make_envs(config, config.tasks_per_update * config.group_size, envs)
        self.pool = task_pool(config.task_pool, self.envs[0])
        self.optimizer = torch.optim.AdamW(policy.parameters(), lr=config.learning_rate, weight_decay=0.0)
        self.step = 0
        if config.resume:
            self.step = load_checkpoint(config, policy, self.optimizer, self.rng)

    def update(self) -> dict[str, float]:
        """Collect, score, compute group advantages, learn; returns this update's metrics."""
        c = self.config
        # 1. rollouts: every group's episodes share task and seed
        resets, groups = task_resets(self.rng, self.pool, c.tasks_per_update, c.group_size)
        stats = RolloutStats()
        trajs = collect(self.policy, self.envs, resets, groups, stats)
        # 2. one scalar reward per rollout
        rewards = self.rewards(trajs)
        # 3. advantages relative to the group; groups without spread are dropped
        advantages, kept = np.zeros(len(trajs)), np.zeros(len(trajs), dtype=bool)
        for g in set(groups):
            idx = [i for i, t in enumerate(trajs) if t.group == g]
            advantages[idx], kept[idx] = group_advantages(rewards[idx], c.min_group_std, c.advantage_clip)
        metrics = rollout_metrics(trajs, rewards)
        metrics["grpo/groups_kept"] = float(kept.mean())
        metrics["speed/generate_tokens_per_s"] = stats.generated_tokens / max(stats.generate_s, 1e-9)
        metrics["speed/env_s"] = stats.env_s
        # 4. the clipped-ratio update on the kept rollouts
        if kept.any():
            metrics.update(self.learn([t for t, k in zip(trajs, kept) if k], advantages[kept]))
        return metrics

    def rewards(self, trajs: list[Trajectory]) -> np.ndarray:
        """The env's return, or ToolOrchestra's preference reward computed within each group."""
        if self.config.reward == "env":
            return np.array([t.env_return for t in trajs])
        out = np.zeros(len(trajs))
        for g in sorted({t.group for t in trajs}):
            idx = [i for i, t in enumerate(trajs) if t.group == g]
            pref = next((trajs[i].preference for i in idx if trajs[i].preference), {})
            out[idx] = preference_rewards([trajs[i].features for i in idx], pref.get("weights", {"correct": 1.0}),
                                          pref.get("avoid", ()))
        return out

    def learn(self, trajs: list[Trajectory], advantages: np.ndarray) -> dict[str, float]:
        """Clipped policy-gradient steps on the policy's own tokens, one advantage per sequence."""
        import torch

        c, policy = self.config, self.policy
        pad = policy.tokenizer.pad_token_id
        chunks = minibatches(len(trajs), c.minibatch_size, self.rng)
        need_old = c.epochs > 1 or len(chunks) > 1  # else the first pass is the old policy: no extra forward
        batches = []
        with torch.no_grad():
            for idx in chunks:
                tokens = TokenBatch.from_trajectories([trajs[i] for i in idx], pad, policy.device)
                mb = Minibatch(tokens, tokens.action_mask,
                               torch.tensor(advantages[idx], dtype=torch.float32, device=policy.device)[:, None])
                if need_old:
                    mb.old_logprobs = policy.token_logprobs(tokens.input_ids, tokens.attention_mask)["logprobs"]
                if c.kl_coef > 0:
                    with policy.reference() as ref:
                        mb.ref_logprobs = policy.token_logprobs(tokens.input_ids, tokens.attention_mask,
                                                                model=ref)["logprobs"]
                batches.append(mb)
        policy.model.train()
        t0 = time.perf_counter()
        metrics = clipped_ratio_update(
            self.optimizer, batches, lambda t: policy.token_logprobs(t.input_ids, t.attention_mask),
            epochs=c.epochs, clip_low=c.clip_low, clip_high=c.clip_high, kl_coef=c.kl_coef,
            max_grad_norm=c.max_grad_norm)
        seen = c.epochs * sum(mb.inputs.n_tokens for mb in batches)
        metrics["speed/tokens_per_s"] = seen / (time.perf_counter() - t0)
        return metrics

    def train(self) -> list[dict[str, float]]:
        """Update until ``config.updates``, logging each update, checkpointing on schedule and at
        the end (the loop is :func:`agents.run.train_loop`, shared with the other algorithm)."""
        return train_loop(self)

    def save_checkpoint(self) -> Path:
        """Adapter, optimiser, update count and RNGs under ``<log_dir>/checkpoints`` (see :mod:`agents.run`)."""
        return save_checkpoint(self.config, self.step, self.policy, self.optimizer, self.rng)
