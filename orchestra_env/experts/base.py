"""The Expert seam: every LLM the orchestrator can call answers one request the same way.

Backends (simulated pool, OpenAI-compatible endpoint, local transformers model) implement
:class:`Expert`. The environment prices the returned token counts with the catalogue, so a
backend never needs to know prices.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ExpertRequest:
    """One chat completion request.

    Messages only: there is deliberately no task or answer field, so nothing a policy builds
    can carry the ground truth and a real backend can never be sent it (the simulated pool
    gets the task from the env's oracle, :mod:`orchestra_env.experts.oracle`). ``role`` says
    which tool asked: ``search`` (write a query),
    ``reasoner`` (think, maybe write Python), ``answer`` (final answer), ``expert``
    (advice in agentic domains), ``judge``, ``user`` (a simulated customer) or
    ``orchestrator`` (the model drives the tools itself: it replies with one tool call).
    """

    model: str
    messages: tuple[dict[str, str], ...]
    role: str = "answer"
    max_tokens: int = 1024
    temperature: float = 0.0
    seed: int = 0

    @property
    def prompt_text(self) -> str:
        return "\n".join(m.get("content", "") for m in self.messages)


@dataclass(frozen=True)
class ExpertResponse:
    """The completion text and what it cost in tokens and seconds.

    ``error`` is set when the backend failed after its retries; ``text`` is then empty and
    the token counts say what was still spent (billed attempts).
    """

    text: str
    tokens_in: int
    tokens_out: int
    latency_s: float
    error: str | None = None


@runtime_checkable
class Expert(Protocol):
    """Anything that completes a chat request."""

    def complete(self, request: ExpertRequest) -> ExpertResponse: ...
