"""Tools backed by expert LLMs: ``enhance_reasoning``, ``answer`` and (agentic domains) ``call_expert``.

Each tool names an alias (``reasoner-2``); the catalogue maps it to a real model and a price;
the expert pool maps the model to a backend (simulated, OpenAI-compatible, local). The tool
builds the prompt from the question and the episode's evidence, so an expert called after a
good search sees what the search found.
"""
from __future__ import annotations

import re
from typing import Any, Literal, Mapping, Optional

import pydantic

from orchestra_env.episode import Episode
from orchestra_env.experts.base import Expert, ExpertRequest, ExpertResponse
from orchestra_env.outages import OUTAGE_ERROR
from orchestra_env.tools.base import SchemaTool, ToolResult
from orchestra_env.tools.catalogue_text import describe_role
from orchestra_env.tools.python_tool import run_code
from orchestra_env.tools.sandbox import Sandbox
from orchestra_env.usage import Catalogue, Usage

CODE_BLOCK_RE = re.compile(r"```(?:python|py)\s*\n(.*?)```", re.DOTALL)
DEFAULT_CONTEXT_TOKENS = 24_000  # documents shown to a model whose catalogue entry names no budget


def ask_expert(
    experts: Expert,
    catalogue: Catalogue,
    alias: str,
    messages: list[dict[str, str]],
    role: str,
    episode: Episode,
    max_tokens: int = 1024,
) -> tuple[ExpertResponse, Usage]:
    """One priced expert call; the seed is derived from the episode, turn and alias."""
    model = catalogue.aliases[alias].model
    request = ExpertRequest(
        model=model,
        messages=tuple(messages),
        role=role,
        max_tokens=max_tokens,
        seed=episode.call_seed(alias, role),
    )
    # a provider that is down (``outages=``) answers nothing and costs the wait
    failure = episode.outages.failure(model, episode.turn - 1) if episode.outages else None
    response = failure or experts.complete(request)
    usage = catalogue.model_usage(model, response.tokens_in, response.tokens_out, response.latency_s)
    return response, usage


def alias_field(catalogue: Catalogue, role: str, required: bool = True, *, also: tuple[str, ...] = ()) -> Any:
    """A pydantic field whose values are the aliases of a role (an enum in the schema)."""
    names = tuple(a.name for a in catalogue.aliases_for(role)) + also
    if not names:
        raise ValueError(f"the catalogue has no alias with role {role!r}")
    kind = Literal[names]  # type: ignore[valid-type]
    if required:
        return (kind, pydantic.Field(..., description=f"Which {role} model to call."))
    return (Optional[kind], pydantic.Field(None, description=f"Which {role} model to call."))


class ExpertTool(SchemaTool):
    """A tool that asks an expert model (a catalogue alias) for something.

    It holds what every such tool needs (the expert pool, the catalogue that prices the call,
    how much of the episode an expert is shown) and builds the one failure result they share,
    so ``search``, ``enhance_reasoning``, ``answer`` and ``call_expert`` differ only in their
    prompt and in what they make of the reply.

    What an expert is shown (:meth:`shown`): by default the evidence, the newest tool outputs
    up to ``max_context_chars``; with ``documents=True`` (the env's ``expert_context="documents"``)
    what ToolOrchestra's harness sends, every document the searches retrieved in full plus the
    other outputs, cut to the called model's ``context_tokens`` (catalogue).
    """

    role = "answer"  # the ExpertRequest role: search | reasoner | answer | expert

    def __init__(self, name: str, description: str, fields: Mapping[str, Any], experts: Expert,
                 catalogue: Catalogue, max_context_chars: int, documents: bool = False) -> None:
        super().__init__(name, description, fields)
        self.experts, self.catalogue, self.max_context_chars = experts, catalogue, max_context_chars
        self.documents = documents

    def shown(self, episode: Episode, alias: str) -> str:
        """The part of the episode the model behind ``alias`` is shown (see the class docstring)."""
        if not self.documents or episode.world is not None:
            return episode.context(self.max_context_chars)
        budget = self.catalogue.models[self.catalogue.aliases[alias].model].context_tokens or DEFAULT_CONTEXT_TOKENS
        return episode.transcript.render_documents(4 * budget)  # approx_tokens: four characters a token

    def ask(self, alias: str, messages: list[dict[str, str]], episode: Episode,
            max_tokens: int = 1024) -> tuple[ExpertResponse, Usage]:
        return ask_expert(self.experts, self.catalogue, alias, messages, self.role, episode, max_tokens)

    @staticmethod
    def failed(alias: str, response: ExpertResponse, usage: Usage, **kwargs: Any) -> ToolResult:
        """The observation of a call whose backend failed after its retries (no penalty)."""
        return ToolResult(f"{alias} failed: {response.error}", usage, alias, error=response.error, **kwargs)


def _qa_messages(episode: Episode, instruction: str, context: str) -> list[dict[str, str]]:
    user = f"Question: {episode.task.question}\n"
    if context:
        user = f"Information gathered so far:\n{context}\n\n" + user
    return [{"role": "system", "content": instruction}, {"role": "user", "content": user}]


class EnhanceReasoningTool(ExpertTool):
    """Ask a reasoner model to think about the problem; Python it writes is run in the sandbox."""

    role = "reasoner"

    INSTRUCTION = (
        "You are a careful reasoner. Work through the question using the information given. "
        "If computation helps, write one Python program in a ```python block that prints the result."
    )

    def __init__(self, experts: Expert, catalogue: Catalogue, sandbox: "Sandbox | None",
                 max_context_chars: int = 24_000, documents: bool = False) -> None:
        description = (
            "Call a reasoning model to analyse the question and the information gathered so far; "
            "Python code it writes is executed and its output returned. Models:\n"
            + describe_role("reasoner", catalogue)
        )
        super().__init__("enhance_reasoning", description, {"model": alias_field(catalogue, "reasoner")},
                         experts, catalogue, max_context_chars, documents)
        self.sandbox = sandbox

    def __call__(self, arguments: Mapping[str, Any], episode: Episode) -> ToolResult:
        alias = arguments["model"]
        messages = _qa_messages(episode, self.INSTRUCTION, self.shown(episode, alias))
        response, usage = self.ask(alias, messages, episode)
        if response.error:
            return self.failed(alias, response, usage)
        output = response.text
        match = CODE_BLOCK_RE.search(response.text)
        if match and self.sandbox is not None:
            _, code_output, code_usage = run_code(self.sandbox, match.group(1), self.catalogue)
            output += f"\n\nCode output:\n{code_output}"
            usage = usage + code_usage
        return ToolResult(output, usage, alias)


class AnswerTool(ExpertTool):
    """Ask an answer model for the final answer, or give it yourself; ends the episode."""

    INSTRUCTION = (
        "Answer the question using the information given. Reply with the final answer only, "
        "as short as possible (a name, number, date or phrase)."
    )

    def __init__(self, experts: Expert, catalogue: Catalogue, max_context_chars: int = 24_000,
                 documents: bool = False) -> None:
        description = (
            "Give the final answer and end the episode. Either pass `model` to have that model "
            "answer from the question and the information gathered so far, or pass `answer` "
            "to answer yourself. Models:\n" + describe_role("answer", catalogue)
        )
        fields = {
            "model": alias_field(catalogue, "answer", required=False),
            "answer": (Optional[str], pydantic.Field(None, description="Your own final answer.")),
        }
        super().__init__("answer", description, fields, experts, catalogue, max_context_chars, documents)

    def __call__(self, arguments: Mapping[str, Any], episode: Episode) -> ToolResult:
        alias = arguments.get("model")
        if alias is None:
            if arguments.get("answer") is None:
                return ToolResult(
                    "Invalid arguments: give `model` (an answer model) or `answer` (your answer).",
                    error="bad_arguments: answer needs model or answer",
                )
            text = str(arguments["answer"])
            return ToolResult(f"Final answer: {text}", terminal=True, answer=text)
        messages = _qa_messages(episode, self.INSTRUCTION, self.shown(episode, alias))
        response, usage = self.ask(alias, messages, episode)
        if response.error and response.error.startswith(OUTAGE_ERROR):
            # A down provider: nothing was answered, so the policy may try another model.
            return self.failed(alias, response, usage)
        if response.error:
            # The answer model failed after its retries: the episode ends with no answer.
            return self.failed(alias, response, usage, terminal=True, answer="")
        return ToolResult(f"Final answer ({alias}): {response.text}", usage, alias,
                          terminal=True, answer=response.text.strip())


class CallExpertTool(ExpertTool):
    """Agentic domains: ask a stronger model what to do next (replaces tau2's transfer to a human)."""

    role = "expert"

    INSTRUCTION = (
        "You are an expert customer-service agent advising a colleague. Given the policy, the "
        "conversation so far and the colleague's question, say exactly what to do next "
        "(which tool calls with which arguments, or what to tell the user)."
    )

    def __init__(self, experts: Expert, catalogue: Catalogue, max_context_chars: int = 24_000) -> None:
        description = (
            "Ask an expert model for advice on what to do next; you may follow it. Models:\n"
            + describe_role("expert", catalogue)
        )
        fields = {
            "expert": alias_field(catalogue, "expert"),
            "question": (str, pydantic.Field("", description="What you want to know.")),
        }
        super().__init__("call_expert", description, fields, experts, catalogue, max_context_chars)

    def __call__(self, arguments: Mapping[str, Any], episode: Episode) -> ToolResult:
        alias = arguments["expert"]
        context = episode.context(self.max_context_chars)
        user = f"Task:\n{episode.task.question}\n\nSo far:\n{context}\n\nQuestion: {arguments['question']}"
        messages = [{"role": "system", "content": self.INSTRUCTION}, {"role": "user", "content": user}]
        response, usage = self.ask(alias, messages, episode)
        if response.error:
            return self.failed(alias, response, usage)
        return ToolResult(f"Expert advice ({alias}): {response.text}", usage, alias)
