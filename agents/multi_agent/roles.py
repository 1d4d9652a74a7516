"""The three alpha-UMi roles (and the single-model "backbone"): their prompts, the history
they share, and how each role's output is read.

Every role reads the same history, rendered as plain text with one prefix per kind of turn,
as in the paper's GLPFT code::

    user: <the request>
    assistant: <a planner thought>
    caller: Action: <tool>\\nAction Input: <JSON arguments>
    observation: <what the env returned>
    conclusion: <the final message / answer action>

and each prompt ends with its role's cue (``assistant:`` for the planner and the backbone,
``caller:``, ``conclusion:``), so the model continues in the voice of that role.

What we adapted from the paper's ``prompt_lib.py`` (ToolBench prompts):

* the tool docs are our env's JSON schemas, clipped to ``PromptConfig.doc_chars`` (0 for the
  tiny CPU model, whose context cannot hold 30k characters of schemas: it sees tool names only);
* Action Input is a JSON object (our tools take JSON arguments; ToolBench's too, less strictly);
* the conclusion is *an action of the env*: in conversational envs (ToolScale, tau2) the final
  message to the user (plain text, which those envs treat as ``respond``), in QA envs the
  ``answer`` tool call. The paper's conclusion is ToolBench's final answer text;
* "give up" is kept as a planner marker; the agent then lets the summarizer conclude (our envs
  have no ``give_up_and_restart``);
* wording fixes ("assess" -> "access") and one line telling the caller the JSON form.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

from orchestra_env.actions import ParseError, ToolCall, parse_action

Role = Literal["backbone", "planner", "caller", "summarizer"]
ROLES: tuple[Role, ...] = ("planner", "caller", "summarizer")  # the team; "backbone" is stage 1
NEXT_CALLER, NEXT_CONCLUSION, NEXT_GIVE_UP = "caller", "conclusion", "give up"
NEXT_MARKERS = (NEXT_CALLER, NEXT_CONCLUSION, NEXT_GIVE_UP)
CUES: dict[str, str] = {"backbone": "assistant:", "planner": "assistant:", "caller": "caller:",
                        "summarizer": "conclusion:"}
END = "\n<end>"  # every target ends with it: generation stops there, and a trained model learns to stop

_NEXT_RE = re.compile(r"Next:\s*(caller|conclusion|give up)", re.IGNORECASE)
_ACTION_RE = re.compile(r"Action:\s*(?P<name>[^\n]*?)\s*\n\s*Action Input:\s*(?P<args>.*)", re.DOTALL)


@dataclass(frozen=True)
class PromptConfig:
    """How much of the env each prompt shows. Defaults suit real models; :meth:`tiny` the
    random-weight CPU model (short context)."""

    doc_chars: int = 16_000  # tool schemas (JSON), clipped; 0: names only
    observation_chars: int = 2_000  # each observation, clipped (its head is kept)
    show_tool_names: bool = True
    instructions: bool = True  # the paper's instruction paragraphs (constant text)
    # The newest tokens of a prompt a model sees, in training and when generating alike (0: what
    # fits, max_length minus the target in training, minus PROMPT_SLACK when generating; then a
    # model trained with ~80 prompt tokens before a call reads ~140 at inference, more history
    # than it was ever trained on).
    prompt_tokens: int = 0

    @classmethod
    def tiny(cls) -> "PromptConfig":
        """No tool docs, no instruction paragraphs, short observations: the random-weight model's
        context is small and CPU time scarce; the history, the thought and the cues remain."""
        return cls(doc_chars=0, observation_chars=120, show_tool_names=False, instructions=False)


@dataclass(frozen=True)
class Entry:
    """One line of the shared history: who (a prefix above) and what."""

    kind: Literal["user", "assistant", "caller", "observation", "conclusion"]
    text: str


@dataclass
class History:
    """The record all roles read. The agent appends the planner's thoughts, the caller's calls
    and the env's observations in order; the same class renders training prompts, so a model
    sees at inference exactly the text it was trained on."""

    entries: list[Entry] = field(default_factory=list)

    def add(self, kind: str, text: str) -> None:
        self.entries.append(Entry(kind, text))  # type: ignore[arg-type]

    def render(self, config: PromptConfig) -> str:
        lines = []
        for e in self.entries:
            text = e.text[: config.observation_chars] if e.kind == "observation" else e.text
            lines.append(f"{e.kind}: {text}")
        return "\n".join(lines)


def format_call(name: str, arguments: Mapping[str, Any]) -> str:
    """The caller's text for one call (the paper's two lines; arguments as compact JSON)."""
    return f"Action: {name}\nAction Input: {json.dumps(dict(arguments), ensure_ascii=False, sort_keys=True)}"


def format_plan(thought: str, nxt: str) -> str:
    return f"{thought}\nNext: {nxt}"


@dataclass(frozen=True)
class ToolDocs:
    """The tool list a prompt shows (name -> JSON schema), from the env's ``tool_schemas()``."""

    schemas: Mapping[str, Any]

    @classmethod
    def from_env(cls, env: Any) -> "ToolDocs":
        base = getattr(env, "unwrapped", env)
        schemas = {}
        listed = base.tool_schemas
        for s in (listed() if callable(listed) else listed):
            f = s.get("function", s)
            schemas[f["name"]] = f
        return cls(schemas)

    @property
    def names(self) -> list[str]:
        return list(self.schemas)

    def render(self, config: PromptConfig) -> str:
        if config.doc_chars <= 0:
            return ""
        text = "\n".join(json.dumps(s, ensure_ascii=False) for s in self.schemas.values())
        return text[: config.doc_chars]


def _header(docs: ToolDocs, config: PromptConfig) -> str:
    doc = docs.render(config)
    return f"You have access to the following apis:\n{doc}\n" if doc else ""


def _names(docs: ToolDocs, config: PromptConfig) -> str:
    return f", should be exactly in [{', '.join(docs.names)}]" if config.show_tool_names else ""


def backbone_prompt(history: str, docs: ToolDocs, config: PromptConfig) -> str:
    if not config.instructions:
        return f"{history}\n{CUES['backbone']} "
    return (f"{_header(docs, config)}The conversation history is:\n{history}\n"
            "You should answer the action of next step in the following format:\n"
            "The thought to solve the question,\n"
            f"Action: the name of api that should be called in this step{_names(docs, config)},\n"
            "Action Input: the api call request as a JSON object.\n"
            "Once you think the question is finished, output conclusion: the final answer of the question.\n"
            f"{CUES['backbone']} ")


def planner_prompt(history: str, docs: ToolDocs, config: PromptConfig) -> str:
    if not config.instructions:
        return f"{history}\nplan next.\n{CUES['planner']} "
    return (f"{_header(docs, config)}The conversation history is:\n{history}\n"
            "You are the assistant to plan what to do next and whether is caller's or conclusion's turn to answer.\n"
            "Answer with a following format:\n"
            "The thought of the next step, followed by Next: caller or conclusion or give up.\n"
            f"{CUES['planner']} ")


def caller_prompt(history: str, thought: str, docs: ToolDocs, config: PromptConfig) -> str:
    if not config.instructions:
        return f"{history}\nthought: {thought}\n{CUES['caller']} "
    return (f"{_header(docs, config)}The conversation history is:\n{history}\n"
            f"The thought of this step is:\n{thought}\n"
            "Base on the thought make an api call in the following format:\n"
            f"Action: the name of api that should be called in this step{_names(docs, config)},\n"
            "Action Input: the api call request as a JSON object.\n"
            f"{CUES['caller']} ")


def summarizer_prompt(history: str, docs: ToolDocs, config: PromptConfig) -> str:
    if not config.instructions:
        return f"{history}\n{CUES['summarizer']} "
    return f"Make a conclusion based on the conversation history:\n{history}\n{CUES['summarizer']} "


# ----------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Plan:
    thought: str
    next: str  # one of NEXT_MARKERS


def parse_plan(text: str) -> Plan:
    """The planner's thought and Next marker. As in the paper's inference loop the marker is
    matched as a string, and with none the caller goes next."""
    text = strip_end(text)
    m = _NEXT_RE.search(text)
    if m is None:
        return Plan(text.strip(), NEXT_CALLER)
    return Plan(text[: m.start()].strip(), m.group(1).lower())


def parse_call(text: str) -> ToolCall | ParseError:
    """The caller's ``Action:``/``Action Input:`` lines; a ``<tool_call>`` or JSON call is
    accepted too, so a base model that speaks the Hermes format still acts."""
    text = strip_end(text)
    m = _ACTION_RE.search(text)
    if m is None:
        return parse_action(text)
    name, raw = m.group("name").strip(), m.group("args").strip()
    if not name:
        return ParseError("the Action line names no tool.")
    try:
        arguments = json.loads(raw) if raw else {}
    except (ValueError, RecursionError) as exc:
        return ParseError(f"Action Input of {name!r} is not valid JSON: {exc}.")
    if not isinstance(arguments, dict):
        return ParseError(f"Action Input of {name!r} must be a JSON object.")
    return ToolCall(name, arguments)


@dataclass(frozen=True)
class BackboneStep:
    """What a single model wrote: a thought and either a call or a conclusion."""

    thought: str
    call: ToolCall | ParseError | None  # None: it concluded
    conclusion: str | None


def parse_backbone(text: str) -> BackboneStep:
    text = strip_end(text)
    idx = text.find("conclusion:")
    act = text.find("Action:")
    if idx >= 0 and (act < 0 or idx < act):
        return BackboneStep(text[:idx].strip(), None, text[idx + len("conclusion:"):].strip())
    thought = text[:act].strip() if act >= 0 else ""
    return BackboneStep(thought, parse_call(text[act:] if act >= 0 else text), None)


def strip_end(text: str) -> str:
    i = text.find(END.strip())
    return (text[:i] if i >= 0 else text).strip()


def as_env_action(call: ToolCall | ParseError, raw: str) -> Any:
    """A parsed call as the env's dict action; an unparsable one as the raw text, which the
    env answers with a format error (QA) or reads as a message (conversational envs)."""
    if isinstance(call, ToolCall):
        return {"tool": call.tool, "arguments": dict(call.arguments)}
    return raw


def known(call: ToolCall | ParseError, names: Sequence[str]) -> bool:
    return isinstance(call, ToolCall) and call.tool in names
