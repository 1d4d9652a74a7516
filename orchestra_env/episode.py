"""The mutable state of one episode, owned by the environment and lent to tools."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from orchestra_env.preferences import Preference
from orchestra_env.tasks import Task, derive_seed
from orchestra_env.outages import EpisodeOutages
from orchestra_env.transcript import Transcript
from orchestra_env.usage import Usage

W = TypeVar("W")


class World(Protocol):
    """A domain's state for one episode: what its tools act on (a tau2 database and the
    simulated user, a ToolScale database). QA episodes have none."""

    def context(self, max_chars: int) -> str:
        """What a reader outside the policy (an expert) is shown of the episode so far,
        rendered from the episode's transcript (a conversational world's dialogue is a view
        of it)."""
        ...


@dataclass
class Episode:
    """Everything the environment tracks between ``reset`` and the end of an episode.

    ``transcript`` is the one record of the episode (the env writes each call before
    dispatching it and its result after; the conversation layer adds the messages);
    :meth:`context` renders what an expert is shown from it. ``world`` is the domain's own
    state (None for QA), typed by the domain: tools reach it through :meth:`world_as`.
    """

    task: Task
    seed: int
    preference: Preference
    turn: int = 0
    totals: Usage = Usage()
    calls: Counter[str] = field(default_factory=Counter)
    transcript: Transcript = field(default_factory=Transcript)
    answer: str | None = None
    format_errors: int = 0
    context_tokens: int = 0  # what the orchestrator has read so far (billed as its input)
    done: bool = False
    world: World | None = None
    outages: "EpisodeOutages | None" = None  # providers down in this episode (``outages=``)

    def call_seed(self, *parts: Any) -> int:
        """A seed for one random draw of one call: the same episode, turn and call give the
        same draw, whatever ran before it in the process (vectorised = sequential)."""
        return derive_seed(self.seed, self.task.task_id, self.turn, *parts)

    def rng(self, *parts: Any) -> np.random.Generator:
        return np.random.default_rng(self.call_seed(*parts))

    def world_as(self, kind: type[W]) -> W:
        """The episode's world, checked to be a ``kind`` (a tool used in an env whose world
        is something else fails here, with both types named, not deep inside the tool)."""
        if not isinstance(self.world, kind):
            raise TypeError(f"this tool needs a {kind.__name__} world; the episode has {type(self.world).__name__}")
        return self.world

    def context(self, max_chars: int = 24_000) -> str:
        """What an expert is shown, rendered from the transcript: the world's view of it
        (a conversation) or, without a world, the evidence (successful tool outputs, newest
        kept when ``max_chars`` is exceeded)."""
        if self.world is not None:
            return self.world.context(max_chars)
        return self.transcript.render_evidence(max_chars)
