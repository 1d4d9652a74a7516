"""Multi-turn episodes of an LLM policy over many envs at once, kept as token sequences.

An episode is one growing token sequence: the prompt (system = preference, tools through the
chat template, user = task), then for each turn the policy's completion followed by the tool
output rendered as a ``tool`` turn. ``policy_mask`` marks the tokens the policy sampled; only
those are trained (the prompt, tool outputs and template glue are not). Tokens are appended,
never re-tokenised, so the trainer scores exactly the tokens that were sampled.

Each episode is a :class:`TokenSequence`. :func:`collect` steps a list of envs (or a
``SyncVectorEnv``'s) in lock-step: every turn, the envs still running generate together in one
batch. An episode whose context would outgrow
``max_context_tokens`` is cut: it ends as wrong (``context_cut=True``) with what it spent.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import gymnasium as gym

if TYPE_CHECKING:
    from agents.policy import LLMPolicy


class TokenSequence:
    """One episode as the token sequence the policy reads and writes, grown turn by turn.

    It keeps the chat messages it was rendered from (the template needs them to render the next
    tool turn), but it is not a transcript of the episode: that is the env's. ``policy_mask``
    marks the sampled tokens, ``turn_ends`` the last token of each of the policy's turns.
    """

    def __init__(self, policy: "LLMPolicy", tools: list[dict[str, Any]] | None,
                 messages: list[dict[str, Any]]) -> None:
        self.policy, self.tools, self.messages = policy, tools, messages
        self.token_ids: list[int] = policy.encode(policy.render(messages, tools, add_generation_prompt=True))
        self.policy_mask: list[int] = [0] * len(self.token_ids)
        self.turn_ends: list[int] = []  # index of each turn's last token
        self.turns = 0

    @classmethod
    def start(cls, policy: "LLMPolicy", env: gym.Env, obs: Mapping[str, Any]) -> "TokenSequence":
        """System = preference (+ tool list if the template cannot render tools), user = task."""
        tools = list(getattr(env.unwrapped, "tool_schemas", []) or []) or None
        system = obs.get("preference", "")
        probe = [{"role": "system", "content": system}, {"role": "user", "content": "x"}]
        if not _view_option(policy, "tool_schemas", True):
            tools = None  # the menu is learned (agents.sft), not read: a much shorter prompt
        elif tools and policy.render(probe, tools, True) == policy.render(probe, None, True):
            system = f"{system}\n\nTools (call one per turn):\n{obs['tools']}"  # template ignores tools
            tools = None
        first = clip_output(obs.get("output") or "", _view_option(policy, "max_output_chars", None))
        task = obs["task"] + (f"\n\n{first}" if first else "")
        return cls(policy, tools, [{"role": "system", "content": system}, {"role": "user", "content": task}])

    def add_action(self, ids: Sequence[int]) -> str:
        """Append sampled tokens (trained); close the turn if the sample was cut short."""
        ids = list(ids)
        self.token_ids += ids
        self.policy_mask += [1] * len(ids)
        self.turn_ends.append(len(self.token_ids) - 1)
        if not ids or ids[-1] not in self.policy.eos_ids:
            self.token_ids.append(self.policy.eos_ids[0])  # closes the turn, not trained
            self.policy_mask.append(0)
        text = self.policy.decode(ids)
        self.messages.append({"role": "assistant", "content": text})
        self.turns += 1
        return text

    def add_output(self, output: str) -> None:
        """Append the tool output as the template renders a ``tool`` turn (not trained)."""
        output = clip_output(output, _view_option(self.policy, "max_output_chars", None))
        head = self.policy.render(self.messages, self.tools, add_generation_prompt=False)
        self.messages.append({"role": "tool", "content": output})
        tail = self.policy.render(self.messages, self.tools, add_generation_prompt=True)
        if not tail.startswith(head):
            raise RuntimeError(
                "the chat template re-renders earlier turns when a tool turn is added, so tokens "
                "cannot be appended; use a template whose rendering of a prefix is a prefix"
            )
        stop = self.policy.tokenizer.convert_ids_to_tokens(self.token_ids[-1])
        glue = head[head.rfind(stop) + len(stop):] if isinstance(stop, str) and stop in head else ""
        ids = self.policy.encode(glue + tail[len(head):])
        self.token_ids += ids
        self.policy_mask += [0] * len(ids)


def _view_option(policy: Any, name: str, default: Any) -> Any:
    """A policy-view option of ``policy.config`` (``tool_schemas``, ``max_output_chars``), or its
    default for a policy without one (the scale-out adapters' tokenizer-only views)."""
    return getattr(getattr(policy, "config", None), name, default)


def clip_output(text: str, limit: int | None) -> str:
    """``text`` cut to ``limit`` characters with a marker (the policy's view only)."""
    return text if limit is None or len(text) <= limit else text[:limit] + " [...]"


@dataclass
class Trajectory:
    """One finished episode: tokens with the policy mask, rewards per turn, and the summary."""

    token_ids: list[int]
    policy_mask: list[int]
    turn_ends: list[int]
    step_rewards: list[float]
    features: dict[str, float]
    preference: dict[str, Any]
    correct: bool
    cost_usd: float
    latency_s: float
    context_cut: bool = False
    group: int = 0
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def env_return(self) -> float:
        return float(sum(self.step_rewards))

    @property
    def n_policy_tokens(self) -> int:
        return int(sum(self.policy_mask))


@dataclass
class RolloutStats:
    generated_tokens: int = 0
    generate_s: float = 0.0
    env_s: float = 0.0


def unwrap_vector(envs: "Sequence[gym.Env] | gym.vector.VectorEnv") -> list[gym.Env]:
    """The sub-envs of a ``SyncVectorEnv`` (the loop steps them one by one), or the list itself."""
    if isinstance(envs, gym.vector.VectorEnv):
        if not hasattr(envs, "envs"):
            raise TypeError(
                f"{type(envs).__name__} does not expose its sub-envs; pass a SyncVectorEnv or a list "
                "of envs (episodes run in lock-step with a per-env stop, which the vector API lacks)"
            )
        return list(envs.envs)
    return list(envs)


def collect(policy: "LLMPolicy", envs: "Sequence[gym.Env] | gym.vector.VectorEnv",
            resets: Sequence[Mapping[str, Any]], groups: Sequence[int] | None = None,
            stats: RolloutStats | None = None) -> list[Trajectory]:
    """Run one episode in each env (``env.reset(**resets[i])``), generating in batches."""
    envs = unwrap_vector(envs)
    if len(resets) != len(envs):
        raise ValueError(f"{len(envs)} envs but {len(resets)} reset arguments")
    stats = stats if stats is not None else RolloutStats()
    groups = list(groups) if groups is not None else list(range(len(envs)))
    seqs, infos, rewards, calls = [], [], [[] for _ in envs], [Counter() for _ in envs]
    for env, kwargs in zip(envs, resets):
        obs, info = env.reset(**kwargs)
        seqs.append(TokenSequence.start(policy, env, obs))
        infos.append(info)
    done: dict[int, Trajectory] = {}
    active = list(range(len(envs)))
    limit = policy.config.max_context_tokens
    while active:
        room = min(policy.config.max_new_tokens, min(limit - len(seqs[i].token_ids) for i in active))
        t0 = time.perf_counter()
        outs = policy.generate([seqs[i].token_ids for i in active], max_new_tokens=max(1, room))
        stats.generate_s += time.perf_counter() - t0
        still = []
        for i, ids in zip(active, outs):
            stats.generated_tokens += len(ids)
            text = seqs[i].add_action(ids)
            t0 = time.perf_counter()
            obs, reward, terminated, truncated, info = envs[i].step(text)
            stats.env_s += time.perf_counter() - t0
            rewards[i].append(float(reward))
            for key in ("tool", "model"):
                if info.get(key):
                    calls[i][info[key]] += 1
            if terminated or truncated:
                done[i] = _finish(seqs[i], rewards[i], info, groups[i], cut=False)
                continue
            seqs[i].add_output(obs["output"])
            if len(seqs[i].token_ids) + 1 >= limit:
                done[i] = _finish(seqs[i], rewards[i], info, groups[i], cut=True, calls=calls[i],
                                  preference=infos[i].get("preference", {}))
                continue
            still.append(i)
        active = still
    return [done[i] for i in range(len(envs))]


def _finish(seq: TokenSequence, rewards: list[float], info: Mapping[str, Any], group: int, cut: bool,
            calls: Counter | None = None, preference: Mapping[str, Any] | None = None) -> Trajectory:
    if cut:  # the env never reached its end: features from what the steps reported
        features = {f"calls/{k}": float(v) for k, v in (calls or {}).items()}
        features.update(correct=0.0, cost_usd=info.get("total_cost_usd", 0.0),
                        latency_s=info.get("total_latency_s", 0.0))
        correct = False
    else:
        features = dict(info.get("features", {}))
        preference = info.get("preference", {})
        correct = bool(info.get("correct", False))
    return Trajectory(
        token_ids=seq.token_ids, policy_mask=seq.policy_mask, turn_ends=seq.turn_ends,
        step_rewards=rewards, features=features, preference=dict(preference or {}), correct=correct,
        cost_usd=float(features.get("cost_usd", 0.0)), latency_s=float(features.get("latency_s", 0.0)),
        context_cut=cut, group=group, info=dict(info),
    )
