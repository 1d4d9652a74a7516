"""One episode's transcript: every message said and every tool call made, in order.

The environment is the only writer of the agent's tool turns: :class:`OrchestraEnv.step
<orchestra_env.envs.base.OrchestraEnv>` appends a :class:`ToolCallTurn` before it
dispatches a call and a :class:`ToolResultTurn` after, whatever the env. The conversation
layer (:mod:`orchestra_env.domains.conversation`) adds the messages exchanged with a
simulated user and the tool calls the *user* makes on their own device. Everything a reader
outside the policy is shown (an expert's prompt, tau2's evaluator, an LLM judge) is a view
of this one record, so no reader can miss a turn another one sees.

Four turn types, following tau2's message model (``requestor`` says who made a call)::

    UserMessage(content)                 the simulated customer speaks
    AgentMessage(content)                the policy speaks to the customer
    ToolCallTurn(tool, arguments, ...)   a call, arguments as the caller wrote them
    ToolResultTurn(tool, output, ...)    its output, the error (if any) and the model used
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Union

Requestor = Literal["user", "assistant"]


@dataclass(frozen=True)
class UserMessage:
    """What the simulated user said (their opening request, a reply, a stop)."""

    content: str
    role: Literal["user"] = "user"


@dataclass(frozen=True)
class AgentMessage:
    """What the policy told the user (``respond``, or plain text in conversational envs)."""

    content: str
    role: Literal["assistant"] = "assistant"


@dataclass(frozen=True)
class ToolCallTurn:
    """One tool call. ``step`` is the env step that dispatched it (None for turns of a prior
    history and for the user's own device calls, which no env step dispatches)."""

    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    requestor: Requestor = "assistant"
    step: int | None = None


@dataclass(frozen=True)
class ToolResultTurn:
    """What one call returned. ``tool`` is None when the action named no tool (a parse
    error) or when a prior history does not say; ``error`` is the error the caller caused,
    ``model`` the expert model that answered (LLM-backed tools), ``documents`` the full texts
    a search retrieved (``ToolResult.documents``)."""

    tool: str | None
    output: str
    requestor: Requestor = "assistant"
    error: str | None = None
    model: str | None = None
    step: int | None = None
    documents: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.error is not None


Turn = Union[UserMessage, AgentMessage, ToolCallTurn, ToolResultTurn]


@dataclass
class Transcript:
    """The ordered turns of one episode (append-only: a turn once written is history)."""

    turns: list[Turn] = field(default_factory=list)

    def add(self, turn: Turn) -> Turn:
        self.turns.append(turn)
        return turn

    def __iter__(self) -> Iterator[Turn]:
        return iter(self.turns)

    def __len__(self) -> int:
        return len(self.turns)

    def evidence(self) -> list[str]:
        """The outputs of the agent's successful tool calls, ``"[tool] output"`` each: what a
        QA expert reads, so that an answer model called after a good search sees its results."""
        return [f"[{t.tool}] {t.output}" for t in self.turns
                if isinstance(t, ToolResultTurn) and t.requestor == "assistant" and t.error is None and t.output]

    def render_documents(self, max_chars: int) -> str:
        """ToolOrchestra's expert context: every distinct document the searches retrieved (each
        search's best last, as its harness appends them, so that a cut keeps the best of the
        newest search), then the other tools' outputs (code results, reasoning), cut to the last
        ``max_chars`` (the harness keeps the last tokens)."""
        documents: dict[str, None] = {}  # insertion-ordered set
        others: list[str] = []
        for t in self.turns:
            if not (isinstance(t, ToolResultTurn) and t.requestor == "assistant" and t.error is None):
                continue
            if t.documents:
                documents.update(dict.fromkeys(reversed(t.documents)))
            elif t.output:
                others.append(f"[{t.tool}] {t.output}")
        parts = [f"Doc {n}: {d}" for n, d in enumerate(documents, 1)] + others
        text = "\n\n".join(parts)
        if not text:
            return ""
        return ("Documents:\n" if documents else "") + text[-max_chars:]

    def render_evidence(self, max_chars: int = 24_000) -> str:
        """The most recent evidence that fits ``max_chars`` (newest kept, oldest dropped)."""
        kept: list[str] = []
        size = 0
        for item in reversed(self.evidence()):
            if size + len(item) > max_chars and kept:
                break
            kept.append(item[-max_chars:])
            size += len(item)
        return "\n\n".join(reversed(kept))
