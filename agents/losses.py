"""The losses, and the one clipped-ratio update that GRPO, PPO and the router all run.

:func:`clipped_ratio_update` is the optimisation half of every learner here: for ``epochs``
passes over fixed :class:`Minibatch` es it scores the actions again, takes the clipped ratio
(DAPO's asymmetric range), adds the terms the caller weighs in (KL to a reference, an entropy
bonus, a clipped value loss), and steps the optimiser. What differs between learners is only
what a minibatch holds and how it is scored (``forward``): LLM tokens or router choices.

For LLM policies every tensor is on the *shifted* timeline ``[B, T-1]``: position t scores
token t+1 given tokens 0..t, so ``action_mask[:, t] = policy_mask[t+1]``: only sampled tokens
count (:class:`TokenBatch`). For the router a row is one choice and the mask is all ones.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

if TYPE_CHECKING:
    import torch

    from agents.rollout import Trajectory


@dataclass
class TokenBatch:
    input_ids: "torch.Tensor"  # [B, T] right-padded
    attention_mask: "torch.Tensor"  # [B, T]
    action_mask: "torch.Tensor"  # [B, T-1] float, 1 on the policy's own tokens

    @classmethod
    def from_trajectories(cls, trajs: Sequence["Trajectory"], pad_id: int, device: "torch.device") -> "TokenBatch":
        import torch

        width = max(len(t.token_ids) for t in trajs)
        ids = torch.full((len(trajs), width), pad_id, dtype=torch.long)
        attn = torch.zeros((len(trajs), width), dtype=torch.long)
        act = torch.zeros((len(trajs), width), dtype=torch.float32)
        for i, t in enumerate(trajs):
            n = len(t.token_ids)
            ids[i, :n] = torch.tensor(t.token_ids)
            attn[i, :n] = 1
            act[i, :n] = torch.tensor(t.policy_mask, dtype=torch.float32)
        return cls(ids.to(device), attn.to(device), act[:, 1:].to(device))

    @property
    def n_tokens(self) -> int:
        return int(self.attention_mask.sum())


def masked_mean(x: "torch.Tensor", mask: "torch.Tensor") -> "torch.Tensor":
    """Mean over the masked tokens of the whole batch (token-level, as DAPO/ToolOrchestra)."""
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def clipped_policy_loss(logp: "torch.Tensor", old_logp: "torch.Tensor", advantages: "torch.Tensor",
                        mask: "torch.Tensor", clip_low: float, clip_high: float) -> tuple["torch.Tensor", "torch.Tensor"]:
    """PPO's clipped surrogate with DAPO's asymmetric range [1 - clip_low, 1 + clip_high].

    Returns the loss (to minimise) and the share of tokens whose ratio was clipped.
    """
    import torch

    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * advantages
    loss = masked_mean(-torch.minimum(unclipped, clipped), mask)
    clipfrac = masked_mean((unclipped != clipped).float(), mask)
    return loss, clipfrac


def kl_to_reference(logp: "torch.Tensor", ref_logp: "torch.Tensor") -> "torch.Tensor":
    """Per-token KL(policy || reference), the k3 estimator: unbiased and always >= 0."""
    import torch

    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1.0


def clipped_value_loss(values: "torch.Tensor", old_values: "torch.Tensor", returns: "torch.Tensor",
                       mask: "torch.Tensor", clip: float) -> "torch.Tensor":
    """PPO's critic loss: the worse of the raw and the clipped (within ``clip`` of the old value) fit."""
    import torch

    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    return 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)


@dataclass
class Minibatch:
    """What one minibatch holds fixed across the epochs of a clipped-ratio update."""

    inputs: Any
    """What ``forward`` reads: a :class:`TokenBatch`, or a router's (observations, actions, tasks)."""
    mask: "torch.Tensor"
    """1 where the policy acted (its own tokens; every router choice), 0 elsewhere."""
    advantages: "torch.Tensor"
    """Broadcast against ``mask``: ``[B, 1]`` for one advantage per sequence, ``[B, T-1]`` per token."""
    old_logprobs: "torch.Tensor | None" = None
    """Log-probs before the update; ``None`` means "the first pass is the old policy", which is
    exact only for one epoch over one minibatch (and saves a forward pass)."""
    ref_logprobs: "torch.Tensor | None" = None
    """The reference model's log-probs for the KL term; ``None`` skips it."""
    old_values: "torch.Tensor | None" = None
    """The critic's values before the update (PPO); with ``returns``, adds the value loss."""
    returns: "torch.Tensor | None" = None
    """The critic's targets (PPO)."""


def clipped_ratio_update(optimizer: "torch.optim.Optimizer", minibatches: Sequence[Minibatch],
                         forward: Callable[[Any], Mapping[str, "torch.Tensor"]], *, epochs: int,
                         clip_low: float, clip_high: float, kl_coef: float = 0.0, entropy_coef: float = 0.0,
                         value_coef: float = 0.0, value_clip: float = 0.2,
                         max_grad_norm: float = math.inf) -> dict[str, float]:
    """``epochs`` passes of one optimiser step per minibatch; returns the mean of each loss term.

    ``forward(minibatch.inputs)`` scores the taken actions under the current parameters:
    ``{"logprobs", "entropy"}`` (and ``"values"`` when the minibatch has ``returns``), each
    shaped like ``mask``. The loss is ``clipped ratio - entropy_coef * entropy + kl_coef * KL_k3
    + value_coef * clipped value loss``; gradients are clipped to ``max_grad_norm`` over every
    parameter the optimiser holds. Logged: ``loss/policy``, ``loss/entropy``, ``loss/clipfrac``,
    ``loss/kl`` (0 without a reference), ``loss/value`` (with returns), ``loss/grad_norm``.
    """
    import torch

    if any(mb.old_logprobs is None for mb in minibatches) and (epochs > 1 or len(minibatches) > 1):
        raise ValueError("old_logprobs=None is only exact for one epoch over one minibatch: "
                         "score the minibatches before the first step and pass them")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    logs: dict[str, list[float]] = {}
    for _ in range(epochs):
        for mb in minibatches:
            out = forward(mb.inputs)
            logp, mask = out["logprobs"], mb.mask
            old = mb.old_logprobs if mb.old_logprobs is not None else logp.detach()
            pg, clipfrac = clipped_policy_loss(logp, old, mb.advantages, mask, clip_low, clip_high)
            entropy = masked_mean(out["entropy"], mask)
            kl = (masked_mean(kl_to_reference(logp, mb.ref_logprobs), mask) if mb.ref_logprobs is not None
                  else pg.new_zeros(()))
            terms = {"loss/policy": pg, "loss/entropy": entropy, "loss/clipfrac": clipfrac, "loss/kl": kl}
            loss = pg - entropy_coef * entropy + kl_coef * kl
            if mb.returns is not None:
                terms["loss/value"] = clipped_value_loss(out["values"], mb.old_values, mb.returns, mask, value_clip)
                loss = loss + value_coef * terms["loss/value"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_grad_norm))
            optimizer.step()
            for key, value in terms.items():
                logs.setdefault(key, []).append(float(value.detach()))
            logs.setdefault("loss/grad_norm", []).append(grad_norm)
    return {key: sum(values) / len(values) for key, values in logs.items()}
