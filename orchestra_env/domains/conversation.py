"""The conversation layer of the agentic domains (tau2, ToolScale): a simulated customer on
one side, the policy on the other, and the record of what was said and done.

One episode's conversation is a :class:`Dialogue`: the :class:`User` (scripted, or an
:class:`LLMUser` behind an expert backend), the :class:`Conversation` (every message, tool
call and tool result, in order: what the evaluators and experts read, a view of the episode's
one :class:`~orchestra_env.transcript.Transcript`), and optionally the user's own
:class:`Device` (tools the *user* operates, such as tau2 telecom's phone). A domain's world
extends :class:`ConversationWorld`, which holds the dialogue.

The policy reaches the user through :class:`RespondTool`, or by writing plain text
(:func:`message_or_call`). The user ends the conversation by saying ``###STOP###`` (or
``###TRANSFER###`` / ``###OUT-OF-SCOPE###``), as in tau2. :func:`communicated` checks that
the agent told the user what the task requires (with a domain's own matching rule).

What stays with each domain: its users' rules (``tau2/user.py``, ``toolscale/user.py``), how
a world runs the user's tools, and how an episode is scored.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterable, Iterator, Mapping, Protocol, Sequence

import pydantic

from orchestra_env.actions import TOOL_CALL_RE, ParseError, ToolCall, parse_action
from orchestra_env.experts.base import Expert, ExpertRequest, ExpertResponse
from orchestra_env.tools.base import SchemaTool, ToolResult
from orchestra_env.transcript import (
    AgentMessage, Requestor, ToolCallTurn, ToolResultTurn, Transcript, Turn, UserMessage,
)
from orchestra_env.usage import Usage

if TYPE_CHECKING:
    from orchestra_env.episode import Episode

STOP = "###STOP###"
TRANSFER = "###TRANSFER###"
OUT_OF_SCOPE = "###OUT-OF-SCOPE###"
STOP_TOKENS = (STOP, TRANSFER, OUT_OF_SCOPE)
THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL)


def is_stop(text: str) -> bool:
    return any(token in text for token in STOP_TOKENS)


# ----------------------------------------------------------------------------- the record


class HistoryMessage(Protocol):
    """A message of a prior conversation (tau2's ``message_history`` entries have this shape)."""

    role: str
    content: str | None
    tool_calls: Any
    requestor: Requestor


class Conversation:
    """Who said what and which tools were called, in order: the view of an episode's
    :class:`~orchestra_env.transcript.Transcript` that a domain's evaluator reads.

    It owns no record of its own: :meth:`add` writes to the transcript, and the turns are the
    transcript's, less the env's plumbing. ``agent_tools`` names the domain's tools: an agent
    call the env dispatched to anything else (``respond``, ``call_expert``, ``done``, an
    unknown name, an unparsable action) is not part of the conversation, as in tau2, where
    those are messages or do not exist. ``None`` keeps every turn. Tool calls keep the
    arguments *as the caller wrote them* (tau2's ACTION check compares those).
    """

    def __init__(self, transcript: Transcript | None = None, agent_tools: Collection[str] | None = None) -> None:
        self.transcript = transcript if transcript is not None else Transcript()
        self.agent_tools = None if agent_tools is None else frozenset(agent_tools)

    @classmethod
    def from_history(cls, history: Iterable[HistoryMessage] | None, transcript: Transcript | None = None,
                     agent_tools: Collection[str] | None = None) -> "Conversation":
        """A prior conversation written into ``transcript`` (a new one by default), system
        messages dropped, tool calls split out."""
        conv = cls(transcript, agent_tools)
        for m in history or []:
            if m.role == "system":
                continue
            if m.tool_calls:
                for tc in m.tool_calls:
                    conv.add(ToolCallTurn(tc.name, dict(tc.arguments), requestor=tc.requestor))
            elif m.content is not None:
                if m.role == "tool":
                    conv.add(ToolResultTurn(None, m.content, requestor=m.requestor))
                elif m.role == "user":
                    conv.add(UserMessage(m.content))
                else:
                    conv.add(AgentMessage(m.content))
        return conv

    def add(self, turn: Turn) -> Turn:
        return self.transcript.add(turn)

    def _shown(self, turn: Turn) -> bool:
        if isinstance(turn, (UserMessage, AgentMessage)) or self.agent_tools is None:
            return True
        if turn.requestor == "user" or turn.step is None:  # the user's device, or a prior history
            return True
        return turn.tool in self.agent_tools

    @property
    def turns(self) -> list[Turn]:
        return [t for t in self.transcript if self._shown(t)]

    def __iter__(self) -> Iterator[Turn]:
        return iter(self.turns)

    def tool_calls(self) -> list[ToolCallTurn]:
        """Every tool call the agent or the user made (failed ones included, as in tau2)."""
        return [t for t in self.turns if isinstance(t, ToolCallTurn)]

    def agent_messages(self) -> list[str]:
        return [t.content for t in self.turns if isinstance(t, AgentMessage) and t.content]

    def user_messages(self) -> list[str]:
        return [t.content for t in self.turns if isinstance(t, UserMessage) and t.content]

    def render(self, max_chars: int = 24_000, tool_results: bool = True) -> str:
        """Plain text transcript (newest kept when too long), for experts, LLM users and judges."""
        lines = []
        for t in self.turns:
            if isinstance(t, ToolCallTurn):
                who = "agent" if t.requestor == "assistant" else "user"
                lines.append(f"[{who} calls {t.tool}({json.dumps(t.arguments, ensure_ascii=False)})]")
            elif isinstance(t, ToolResultTurn):
                if tool_results:
                    lines.append(f"[tool result] {t.output}")
            else:
                lines.append(f"{'Agent' if isinstance(t, AgentMessage) else 'User'}: {t.content}")
        return "\n".join(lines)[-max_chars:]


# ----------------------------------------------------------------------------- the user


@dataclass
class UserReply:
    """What the user said (and what producing it cost: an LLM user's tokens)."""

    text: str
    usage: Usage = field(default_factory=Usage)

    @property
    def stop(self) -> bool:
        return is_stop(self.text)


class Device(Protocol):
    """Tools the simulated user operates on their own side (tau2 telecom's phone)."""

    def tools(self) -> Mapping[str, str]:
        """Tool name -> description."""
        ...

    def call(self, name: str, arguments: Mapping[str, Any]) -> tuple[str, bool]:
        """Run one tool: (output text, whether it failed)."""
        ...


class User(Protocol):
    """One simulated customer for one episode (built from the task at reset)."""

    def opening(self, dialogue: "Dialogue") -> UserReply:
        """The first message (it may use its device first)."""
        ...

    def reply(self, message: str, dialogue: "Dialogue") -> UserReply:
        """The answer to one agent message; the message is already the last turn."""
        ...


@dataclass
class Dialogue:
    """One episode's conversation: its user (None in solo mode), its record, the user's
    device, what the user spent (reported, never charged to the policy) and why it ended."""

    user: User | None
    conversation: Conversation = field(default_factory=Conversation)
    device: Device | None = None
    usage: Usage = field(default_factory=Usage)
    end: str | None = None  # "user_stop" | "agent_stop" | "transfer" | None (still running)

    def open(self) -> UserReply:
        """The user's opening message, recorded."""
        assert self.user is not None, "a dialogue without a user has no opening"
        return self._heard(self.user.opening(self))

    def send(self, message: str) -> UserReply:
        """The agent says ``message``; the user's reply, recorded (a stop ends the dialogue)."""
        assert self.user is not None, "a dialogue without a user cannot be sent messages"
        self.conversation.add(AgentMessage(message))
        return self._heard(self.user.reply(message, self))

    def use_tool(self, name: str, arguments: Mapping[str, Any]) -> str:
        """The user runs one of its device's tools; call and result are recorded like the agent's."""
        if self.device is None:
            raise ValueError("this user has no device to run tools on")
        self.conversation.add(ToolCallTurn(name, dict(arguments), requestor="user"))
        output, failed = self.device.call(name, arguments)
        self.conversation.add(ToolResultTurn(name, output, requestor="user", error=output if failed else None))
        return output

    def _heard(self, reply: UserReply) -> UserReply:
        self.conversation.add(UserMessage(reply.text))
        self.usage = self.usage + reply.usage
        if reply.stop:
            self.end = "user_stop"
        return reply


@dataclass
class ConversationWorld:
    """The world of a domain with a simulated user (tau2, ToolScale extend it with their
    database): its dialogue, which the ``respond`` tool talks through. What an expert is
    shown of such an episode is the conversation: the customer's messages, the agent's, and
    every domain tool call and result, in order."""

    dialogue: Dialogue

    @property
    def conversation(self) -> Conversation:
        return self.dialogue.conversation

    def context(self, max_chars: int) -> str:
        return self.conversation.render(max_chars)


# ----------------------------------------------------------------------------- the policy's side

RESPOND_DESCRIPTION = ("Send a message to the user and get their reply. Plain text that is not a tool "
                       "call is sent the same way.")


class RespondTool(SchemaTool):
    """Send a message to the user (the dialogue of the episode's :class:`ConversationWorld`); their reply is the output,
    and their stopping ends the episode (the message is then the episode's answer)."""

    def __init__(self, description: str = RESPOND_DESCRIPTION) -> None:
        super().__init__("respond", description,
                         {"content": (str, pydantic.Field(..., description="The message to the user."))})

    def __call__(self, arguments: Mapping[str, Any], episode: "Episode") -> ToolResult:
        message = str(arguments["content"])
        reply = episode.world_as(ConversationWorld).dialogue.send(message)
        return ToolResult(f"User: {reply.text}", terminal=reply.stop, answer=message if reply.stop else None)


def message_or_call(action: Any) -> ToolCall | ParseError:
    """Parse a tool call; plain text that is not one (no JSON object, no ``<tool_call>``)
    is a message to the user, as in tau2 (``<think>`` blocks are dropped from it)."""
    call = parse_action(action)
    if isinstance(call, ParseError) and isinstance(action, str):
        text = THINK_RE.sub("", action).strip()
        if text and not TOOL_CALL_RE.search(text) and not text.startswith("{"):
            return ToolCall("respond", {"content": text})
    return call


# ----------------------------------------------------------------------------- was it said?
NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.casefold()).strip()


def mentions(text: str, answer: str) -> bool:
    """Whether ``text`` states ``answer``: case-insensitive, whitespace-insensitive, and for
    numbers any formatting of the same value ("1,250.5" states "1250.50")."""
    if not answer:
        return True
    if _norm(answer) in _norm(text):
        return True
    try:
        target = float(answer.replace(",", ""))
    except ValueError:
        return False
    for match in NUMBER_RE.findall(text):
        try:
            if abs(float(match.replace(",", "")) - target) < 1e-6:
                return True
        except ValueError:
            continue
    return False


def communicated(required: Sequence[str], messages: Sequence[str],
                 match: Callable[[str, str], bool] = mentions) -> list[bool]:
    """For each required item, whether some agent message states it (by ``match(message, item)``)."""
    return [any(match(m, item) for m in messages) for item in required]


# ----------------------------------------------------------------------------- LLM user

USER_GUIDELINES = """You play a customer contacting customer service. Stay in character.
Rules:
- Say only what your scenario gives you; reveal information only when asked, a little at a time.
- Never invent information (ids, numbers, names) that the scenario does not contain. If asked for
  something you do not know, say you do not know.
- Write short, natural messages, one at a time, as a person typing in a chat.
- If you have tools, you may call one instead of writing a message, as
  <tool_call>{"name": "<tool>", "arguments": {...}}</tool_call>, and nothing else in that reply.
- When your goal is reached, or cannot be reached, end with ###STOP### alone on the last line.
- If you are transferred to a human agent, reply ###TRANSFER###. If the agent cannot help with
  something outside the scenario, reply ###OUT-OF-SCOPE###."""


class LLMUser:
    """A customer played by an LLM through an :class:`Expert` backend (tau2's default user).

    ``scenario`` is what the customer knows and wants. The model must be served by a real
    backend (OpenAI-compatible or local): the simulated expert pool cannot play a customer.
    Tool calls it makes run on the dialogue's device (at most ``max_tool_calls`` per turn).
    """

    def __init__(self, scenario: str, expert: Expert, model: str, seed: int = 0,
                 max_tool_calls: int = 5, max_tokens: int = 512) -> None:
        self.scenario, self.expert, self.model, self.seed = scenario, expert, model, seed
        self.max_tool_calls, self.max_tokens = max_tool_calls, max_tokens

    def system_prompt(self, dialogue: Dialogue) -> str:
        prompt = f"{USER_GUIDELINES}\n\n<scenario>\n{self.scenario}\n</scenario>"
        if dialogue.device is not None:
            tools = "\n".join(f"- {name}: {text}" for name, text in dialogue.device.tools().items())
            prompt += f"\n\nYour tools:\n{tools}"
        return prompt

    def messages(self, dialogue: Dialogue) -> tuple[dict[str, str], ...]:
        """The conversation seen from the user's side: the agent speaks as 'user'."""
        messages = [{"role": "system", "content": self.system_prompt(dialogue)}]
        for t in dialogue.conversation:
            if isinstance(t, AgentMessage) and t.content:
                messages.append({"role": "user", "content": t.content})
            elif isinstance(t, ToolCallTurn) and t.requestor == "user":
                call = ToolCall(t.tool, t.arguments).to_json()
                messages.append({"role": "assistant", "content": f"<tool_call>{call}</tool_call>"})
            elif isinstance(t, UserMessage) and t.content:
                messages.append({"role": "assistant", "content": t.content})
            elif isinstance(t, ToolResultTurn) and t.requestor == "user":
                messages.append({"role": "user", "content": f"[tool result] {t.output}"})
        if len(messages) == 1:
            messages.append({"role": "user", "content": "Hi! How can I help you today?"})
        return tuple(messages)

    def opening(self, dialogue: Dialogue) -> UserReply:
        return self._generate(dialogue)

    def reply(self, message: str, dialogue: Dialogue) -> UserReply:
        return self._generate(dialogue)

    def _generate(self, dialogue: Dialogue) -> UserReply:
        usage = Usage()
        for attempt in range(self.max_tool_calls + 1):
            request = ExpertRequest(model=self.model, messages=self.messages(dialogue), role="user",
                                    max_tokens=self.max_tokens, temperature=0.0, seed=self.seed + attempt)
            try:
                response = self.expert.complete(request)
            except ValueError as exc:
                raise ValueError(
                    f"the user model {self.model!r} could not be called ({exc}); user='llm' needs a real "
                    "backend for it, e.g. experts={'models': {MODEL: {'backend': 'openai', ...}}}"
                ) from exc
            usage = usage + Usage(latency_s=response.latency_s, tokens_in=response.tokens_in,
                                  tokens_out=response.tokens_out)
            if response.error:
                return UserReply(f"(the customer is unavailable: {response.error}) {STOP}", usage)
            text = response.text.strip()
            call = parse_action(text) if "<tool_call>" in text and dialogue.device is not None else None
            if isinstance(call, ToolCall) and attempt < self.max_tool_calls:
                dialogue.use_tool(call.tool, dict(call.arguments))
                continue
            return UserReply(text or STOP, usage)
        return UserReply(STOP, usage)


# ----------------------------------------------------------------------------- experts on demand


class ExpertsOnDemand:
    """An :class:`Expert` that builds the expert pool from its config on the first request,
    so an env whose policy never calls ``call_expert`` (and has no LLM user) never loads it."""

    def __init__(self, config: "Mapping[str, Any] | Expert | None") -> None:
        self._config = config
        self._pool: Expert | None = config if isinstance(config, Expert) else None

    @property
    def pool(self) -> Expert:
        if self._pool is None:
            from orchestra_env.experts.pool import ExpertPool

            self._pool = ExpertPool.from_config(self._config)
        return self._pool

    def complete(self, request: ExpertRequest) -> ExpertResponse:
        return self.pool.complete(request)
