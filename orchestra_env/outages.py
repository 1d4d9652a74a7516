"""Provider outages: some expert models are unreachable in some episodes.

Why: a router that only ever saw healthy providers sends every call to the one it likes best and
fails with it. The ToolOrchestra write-up proposes putting availability into training so the
orchestrator learns fallbacks. With ``gym.make(..., outages=...)`` a provider (or one model) is
down for a whole episode with a probability, or during a schedule of turns. A call to a down
model fails after ``timeout_s`` seconds: the wait is billed as latency (no tokens, no dollars),
and the observation says which provider was down, so the policy can route around it within the
episode.

    outages = {"probability": {"openai": 0.3}, "timeout_s": 30}
    outages = {"schedule": {"gpt-5": [[0, 5]]}}          # gpt-5 down during turns 0..4

Keys of ``probability`` and ``schedule`` are provider names (see :func:`provider_of`) or model
names of the catalogue.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from orchestra_env.experts.base import ExpertResponse

# Model-name prefixes -> the provider that serves them (lower-case prefix match).
PROVIDER_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("claude", "anthropic"),
    ("qwen", "qwen"),
    ("llama", "meta"),
    ("deepseek", "deepseek"),
)
OUTAGE_ERROR = "provider_down"


def provider_of(model: str) -> str:
    """The provider serving ``model``, by name prefix; a model of no known family is its own."""
    name = model.lower()
    for prefix, provider in PROVIDER_PREFIXES:
        if name.startswith(prefix):
            return provider
    return model


@dataclass(frozen=True)
class Outages:
    """Which providers or models fail, and how long a call to one waits before failing.

    Arguments:
        probability: provider or model -> probability that it is down for a whole episode.
        schedule: provider or model -> list of ``[start, end)`` turn windows during which it
            is down (turns counted from 0, the turn of the call).
        timeout_s: seconds a call to a down model waits before it fails (billed as latency).
    """

    probability: Mapping[str, float] = field(default_factory=dict)
    schedule: Mapping[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    timeout_s: float = 30.0

    @classmethod
    def from_any(cls, value: "Outages | Mapping[str, Any] | None", models: Iterable[str]) -> "Outages | None":
        """Validate a user's config against the catalogue's ``models`` (raises ``ValueError``)."""
        if value is None or isinstance(value, Outages):
            outages = value
        else:
            unknown = set(value) - {"probability", "schedule", "timeout_s"}
            if unknown:
                raise ValueError(f"unknown outages keys {sorted(unknown)}; use 'probability', 'schedule', 'timeout_s'")
            schedule = {k: tuple((int(a), int(b)) for a, b in windows)
                        for k, windows in (value.get("schedule") or {}).items()}
            outages = cls(dict(value.get("probability") or {}), schedule, float(value.get("timeout_s", 30.0)))
        if outages is None:
            return None
        models = list(models)
        known = set(models) | {provider_of(m) for m in models}
        for name in list(outages.probability) + list(outages.schedule):
            if name not in known:
                raise ValueError(f"outages name {name!r} is neither a catalogue model nor a provider; "
                                 f"choose from {sorted(known)}")
        for name, p in outages.probability.items():
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"outage probability of {name!r} must be in [0, 1], got {p}")
        for name, windows in outages.schedule.items():
            for start, end in windows:
                if not 0 <= start < end:
                    raise ValueError(f"outage window of {name!r} must be [start, end) with 0 <= start < end, "
                                     f"got {[start, end]}")
        if outages.timeout_s < 0:
            raise ValueError(f"outages timeout_s must be >= 0, got {outages.timeout_s}")
        return outages

    def draw(self, rng: np.random.Generator) -> "EpisodeOutages":
        """The outages of one episode (one draw per name, in sorted order: reproducible)."""
        down = frozenset(name for name in sorted(self.probability) if rng.random() < self.probability[name])
        return EpisodeOutages(down, self.schedule, self.timeout_s)


@dataclass(frozen=True)
class EpisodeOutages:
    """What is down in one episode: names down throughout, plus the scheduled windows."""

    down: frozenset[str] = frozenset()
    schedule: Mapping[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    timeout_s: float = 30.0

    def down_name(self, model: str, turn: int) -> str | None:
        """The provider or model name that makes ``model`` unreachable at ``turn``, if any."""
        for name in (model, provider_of(model)):
            if name in self.down:
                return name
            if any(start <= turn < end for start, end in self.schedule.get(name, ())):
                return name
        return None

    def failure(self, model: str, turn: int) -> ExpertResponse | None:
        """The response of a call to ``model`` at ``turn``: a timed-out failure when it is down."""
        name = self.down_name(model, turn)
        if name is None:
            return None
        return ExpertResponse(
            text="", tokens_in=0, tokens_out=0, latency_s=self.timeout_s,
            error=f"{OUTAGE_ERROR}: {name} is unavailable (no answer after {self.timeout_s:g} s); "
                  "try a model of another provider",
        )
