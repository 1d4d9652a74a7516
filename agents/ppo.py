"""PPO for LLM policies, in one file (CleanRL's shape): a value head on the LM, GAE over the
policy's own tokens, the clipped ratio.

Read top to bottom: the hyper-parameters (:class:`PPOConfig`, one docstring each), the two
pure functions that place rewards and compute GAE on the token timeline, then :class:`PPO`,
whose :meth:`~PPO.update` is one iteration:

1. collect ``episodes_per_update`` episodes on random tasks, batched;
2. put each step's env reward (wrap the env in ``CostLatencyPenalty`` or ``PreferenceReward``
   to shape it) on the last token of the turn that earned it;
3. score old log-probs and values once; GAE with ``gamma`` and ``lam`` per token over the
   sequence of the policy's own tokens across turns (tool outputs are skipped, not zero-reward
   steps); optionally whiten the advantages over the whole update;
4. ``epochs`` passes of the clipped ratio, a clipped value loss, an entropy bonus and
   ``kl_coef`` x KL to the base model.

:meth:`~PPO.train` repeats it, with logging and checkpoints (:func:`agents.run.train_loop`).

Imported, all functions or data: rollout collection (:func:`agents.rollout.collect`), the
losses and the clipped-ratio step shared with GRPO and the router (:mod:`agents.losses`), and
run plumbing that is no part of the algorithm (:mod:`agents.run`: the outer loop, env copies,
task draw, checkpoint files; :mod:`agents.metrics`).
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
from agents.rollout import RolloutStats, Trajectory, collect
from agents.run import (RunConfig, load_checkpoint, make_envs, minibatches, save_checkpoint, task_pool,
                        task_resets, train_loop)


@dataclass
class PPOConfig(RunConfig):
    """PPO's hyper-parameters; the env, schedule and logging fields come from :class:`RunConfig`."""

    episodes_per_update: int = 16
    """Episodes (on random tasks, run as one batch) per update."""
    gamma: float = 1.0
    """Discount per policy token (1: an episode's reward counts in full at every token)."""
    lam: float = 0.95
    """GAE's lambda per policy token (1: Monte-Carlo returns minus values)."""
    whiten_advantages: bool = True
    """Normalise advantages to mean 0, std 1 over the update's policy tokens."""
    learning_rate: float = 1e-5
    """AdamW step size (no weight decay) for the adapter and the value head."""
    max_grad_norm: float = 1.0
    """Clip the gradient's global norm to this before each step."""
    minibatch_size: int = 8
    """Sequences per forward/backward pass."""
    epochs: int = 2
    """Passes over each update's episodes (old log-probs and values are fixed before the first)."""
    clip_low: float = 0.2
    """The ratio is clipped below at 1 - clip_low."""
    clip_high: float = 0.28
    """The ratio is clipped above at 1 + clip_high."""
    value_coef: float = 0.5
    """Weight of the critic's loss."""
    value_clip: float = 0.2
    """A new value may move at most this far from the old one before its error stops counting."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus on the policy's tokens."""
    kl_coef: float = 0.001
    """Weight of KL(policy || base model) per token (k3 estimator); 0 skips the reference pass."""


def token_rewards(traj: Trajectory, width: int) -> np.ndarray:
    """Each step's reward on the last token of the turn that earned it (shifted timeline)."""
    rewards = np.zeros(width - 1, dtype=np.float32)
    for end, r in zip(traj.turn_ends, traj.step_rewards):
        rewards[end - 1] += r
    return rewards


def gae(rewards: np.ndarray, values: np.ndarray, mask: np.ndarray, gamma: float, lam: float
        ) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and returns over the masked positions of one sequence (others stay 0)."""
    adv = np.zeros_like(values)
    idx = np.flatnonzero(mask)
    next_value, running = 0.0, 0.0
    for t in idx[::-1]:
        delta = rewards[t] + gamma * next_value - values[t]
        running = delta + gamma * lam * running
        adv[t], next_value = running, values[t]
    return adv, adv + values * mask


class PPO:
    """Proximal policy optimisation of an :class:`~agents.policy.LLMPolicy` with a value head."""

    def __init__(self, policy: LLMPolicy, config: PPOConfig, envs: Sequence[gym.Env] | None = None) -> None:
        import torch

        if policy.value_head is None:
            raise ValueError("PPO needs a critic: build the policy with PolicyConfig(value_head=True)")
        self.policy, self.config = policy, config
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.envs = make_envs(config, config.episodes_per_update, envs)
        self.pool = task_pool(config.task_pool, self.envs[0])
        self.optimizer = torch.optim.AdamW(policy.parameters(), lr=config.learning_rate, weight_decay=0.0)
        self.step = 0
        if config.resume:
            self.step = load_checkpoint(config, policy, self.optimizer, self.rng)

    def update(self) -> dict[str, float]:
        """Collect episodes, then learn from them; returns this update's metrics."""
        # 1. rollouts, one per env, each on its own random task
        resets, groups = task_resets(self.rng, self.pool, self.config.episodes_per_update, 1)
        stats = RolloutStats()
        trajs = collect(self.policy, self.envs, resets, groups, stats)
        metrics = rollout_metrics(trajs, [t.env_return for t in trajs])
        metrics["speed/generate_tokens_per_s"] = stats.generated_tokens / max(stats.generate_s, 1e-9)
        # 2-4. token rewards, GAE, the clipped-ratio update
        metrics.update(self.learn(trajs))
        return metrics

    def learn(self, trajs: list[Trajectory]) -> dict[str, float]:
        import torch

        c, policy = self.config, self.policy
        pad = policy.tokenizer.pad_token_id
        batches = []
        with torch.no_grad():  # old log-probs, values and advantages: fixed for the whole update
            for idx in minibatches(len(trajs), c.minibatch_size, self.rng):
                group = [trajs[i] for i in idx]
                tokens = TokenBatch.from_trajectories(group, pad, policy.device)
                out = policy.token_logprobs(tokens.input_ids, tokens.attention_mask, with_values=True)
                values, mask = out["values"].cpu().numpy(), tokens.action_mask.cpu().numpy()
                adv, ret = np.zeros_like(values), np.zeros_like(values)
                for i, t in enumerate(group):
                    adv[i], ret[i] = gae(token_rewards(t, values.shape[1] + 1), values[i], mask[i], c.gamma, c.lam)
                mb = Minibatch(tokens, tokens.action_mask, torch.tensor(adv, device=policy.device),
                               old_logprobs=out["logprobs"], old_values=out["values"],
                               returns=torch.tensor(ret, device=policy.device))
                if c.kl_coef > 0:
                    with policy.reference() as ref:
                        mb.ref_logprobs = policy.token_logprobs(tokens.input_ids, tokens.attention_mask,
                                                                model=ref)["logprobs"]
                batches.append(mb)
        if c.whiten_advantages:
            every = torch.cat([mb.advantages[mb.mask > 0] for mb in batches])
            mean, std = every.mean(), every.std().clamp(min=1e-6) if every.numel() > 1 else 1.0
            for mb in batches:
                mb.advantages = (mb.advantages - mean) / std * mb.mask
        policy.model.train()
        t0 = time.perf_counter()
        metrics = clipped_ratio_update(
            self.optimizer, batches,
            lambda t: policy.token_logprobs(t.input_ids, t.attention_mask, with_values=True),
            epochs=c.epochs, clip_low=c.clip_low, clip_high=c.clip_high, kl_coef=c.kl_coef,
            entropy_coef=c.entropy_coef, value_coef=c.value_coef, value_clip=c.value_clip,
            max_grad_norm=c.max_grad_norm)
        seen = c.epochs * sum(mb.inputs.n_tokens for mb in batches)
        metrics["speed/tokens_per_s"] = seen / (time.perf_counter() - t0)
        return metrics

    def train(self) -> list[dict[str, float]]:
        """Update until ``config.updates``, logging each update, checkpointing on schedule and at
        the end (the loop is :func:`agents.run.train_loop`, shared with the other algorithm)."""
        return train_loop(self)

    def save_checkpoint(self) -> Path:
        """Adapter, value head, optimiser, update count and RNGs under ``<log_dir>/checkpoints``."""
        return save_checkpoint(self.config, self.step, self.policy, self.optimizer, self.rng)
