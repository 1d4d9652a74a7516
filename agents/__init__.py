"""Policies and trainers for orchestra-env: LoRA LLM policies trained by GRPO/PPO, baselines,
a numeric routing view for Stable-Baselines3 and the routers trained on it.

Layout: ``policy`` (stateless LM wrapper) -> ``rollout`` (token sequences, batched collection)
-> ``grpo`` / ``ppo`` (one file each, CleanRL's shape) on top of ``losses`` (the shared
clipped-ratio step), ``rewards`` and ``run`` (plumbing); ``llm_agent`` runs a policy in
``baselines.evaluate``; ``routing_view`` + ``embedding`` make the SB3 view, ``routers`` learn on it.

Nothing heavy is imported here: ``import agents`` stays cheap; torch and transformers load
inside the modules that need them.
"""
from __future__ import annotations

__all__ = ["baselines", "embedding", "grpo", "llm_agent", "losses", "menu", "metrics", "policy", "ppo",
           "rewards", "rollout", "routers", "routing_view", "run", "toy_env", "train"]
