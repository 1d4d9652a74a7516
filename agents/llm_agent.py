"""An LLM policy as an agent that plays one episode at a time, for :func:`agents.baselines.evaluate`.

:class:`~agents.policy.LLMPolicy` is stateless (trainers batch many episodes through it);
an agent for ``evaluate()`` must remember its episode between ``act`` calls. ``LLMAgent`` holds
that memory: the episode's :class:`~agents.rollout.TokenSequence`, built and grown exactly as
:func:`agents.rollout.collect` builds it, so an evaluated policy sees the prompts it was trained on.
"""
from __future__ import annotations

from typing import Any, Mapping

import gymnasium as gym

from agents.policy import LLMPolicy
from agents.rollout import TokenSequence


class LLMAgent:
    """``begin(env, obs, info)`` after each reset, then ``act(obs, info) -> action text``.

    ``greedy=True`` takes the most likely tokens (a deterministic evaluation); by default the
    agent samples with the policy's temperature and top-p, as during training.
    """

    def __init__(self, policy: LLMPolicy, greedy: bool = False) -> None:
        self.policy, self.greedy = policy, greedy
        self.tokens: TokenSequence | None = None

    def begin(self, env: gym.Env, obs: Mapping[str, Any], info: Mapping[str, Any]) -> None:
        self.tokens = TokenSequence.start(self.policy, env, obs)

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> str:
        if self.tokens is None:
            raise RuntimeError("LLMAgent.act before begin: call begin(env, obs, info) after each reset")
        if self.tokens.turns:  # the output of the previous action: a tool turn
            self.tokens.add_output(obs["output"])
        config = self.policy.config
        room = min(config.max_new_tokens, config.max_context_tokens - len(self.tokens.token_ids))
        ids = self.policy.generate([self.tokens.token_ids], max_new_tokens=max(1, room), greedy=self.greedy)[0]
        return self.tokens.add_action(ids)
