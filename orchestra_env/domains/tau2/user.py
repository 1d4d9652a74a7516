"""tau2's simulated customers: the offline scripted user (default), the LLM user (the shared
:class:`~orchestra_env.domains.conversation.LLMUser` given the task's scenario), and the
message that asks a user to run one of its device tools.

Both follow tau2's protocol (see :mod:`orchestra_env.domains.conversation`): the user opens
the conversation, answers each agent message, may operate its own tools (telecom's phone,
mock's inbox), and ends the conversation by saying ``###STOP###``.

The scripted user is a cheap, deterministic stand-in for tau2's LLM user, good for tests,
throughput and smoke-training, not for measuring agents. Its rules, in order, for each
agent message:

0. the message asks it to run some of its device tools, written as calls
   (``toggle_airplane_mode()``, ``grant_app_permission(app_name="messaging", permission="sms")``,
   see :func:`ask_user_to`) -> it runs them, in order, and reports what the device said
   (as tau2's user simulator does when the agent tells it to);

then, lower-cased:

1. a goodbye ("goodbye", "have a nice day", ...) -> ``###STOP###``;
2. a question asking to confirm ("confirm", "proceed", "shall I", "would you like me to"...)
   -> "Yes, please go ahead.";
3. "anything else" -> "No, that's all. Thank you! ###STOP###";
4. a statement of success ("successfully", "has been cancelled/booked/updated/...", "all
   set") without a question -> "Thank you, that's all I needed. ###STOP###";
5. otherwise the unsaid sentence of its scenario (known info, reason for call, task
   instructions) sharing the most content words with the agent's message, in the first
   person ("Your user id is x" -> "My user id is x");
6. otherwise "Could you please help me with my request?"; after two of those in a row,
   or after ``max_turns`` replies, it stops.

It opens with its reason for call (structured scenarios) or its instructions minus "You
are ..." sentences (plain ones). User tools named in the instructions are called with the
quoted values of the same sentence: at the start, or just before stopping when the
sentence says "after".
"""
from __future__ import annotations

import inspect
import json
import re
from typing import Any, Mapping

from orchestra_env.domains.conversation import STOP, Device, Dialogue, LLMUser, UserReply, is_stop
from orchestra_env.domains.tau2.environment import UserDevice
from orchestra_env.domains.tau2.tasks import StructuredInstructions, Tau2Task
from orchestra_env.experts.base import Expert

__all__ = ["STOP", "Tau2ScriptedUser", "ask_user_to", "first_person", "llm_user", "requested_calls"]


def llm_user(task: Tau2Task, expert: Expert, model: str, seed: int = 0) -> LLMUser:
    """tau2's LLM user: the shared LLM user playing the task's user scenario."""
    return LLMUser(str(task.user_scenario), expert, model, seed=seed)


def ask_user_to(name: str, arguments: Mapping[str, Any]) -> str:
    """The agent's message asking the user to run one device tool (rule 0 reads it)."""
    args = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())
    return f"Please do this on your device: {name}({args})"


_CALL_START = re.compile(r"\b([A-Za-z_]\w*)\(")
_KEYWORD = re.compile(r"([A-Za-z_]\w*)\s*=\s*")
_SPACE = re.compile(r"\s*")
_JSON = json.JSONDecoder()


def requested_calls(message: str, names: Mapping[str, Any] | set[str]) -> list[tuple[str, dict[str, Any]]]:
    """The calls ``name(key=<json>, ...)`` of the given tool names written in ``message``
    (a call whose arguments do not parse is ignored)."""
    calls = []
    for match in _CALL_START.finditer(message):
        if match.group(1) not in names:
            continue
        arguments = _call_arguments(message, match.end())
        if arguments is not None:
            calls.append((match.group(1), arguments))
    return calls


def _call_arguments(text: str, pos: int) -> dict[str, Any] | None:
    arguments: dict[str, Any] = {}
    while True:
        pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        if text.startswith(")", pos):
            return arguments
        key = _KEYWORD.match(text, pos)
        if key is None:
            return None
        try:
            arguments[key.group(1)], pos = _JSON.raw_decode(text, key.end())
        except json.JSONDecodeError:
            return None
        pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        if text.startswith(",", pos):
            pos += 1


# ----------------------------------------------------------------------------- scripted

_GOODBYE = re.compile(r"\b(goodbye|good bye|bye|have a (nice|great|good|wonderful) (day|trip|flight))\b")
_CONFIRM = re.compile(
    r"\b(confirm|proceed|shall i|should i|would you like me to|do you want me to|go ahead|yes or no|\(yes)\b"
)
_SUCCESS = re.compile(
    r"\b(successfully|all set|has been|have been|is now|are now)\b"
)
_STOPWORDS = frozenset(
    "the and for you your are was were with that this have has had what which when where who how "
    "can could would will please may might also any all but not from into about there their them "
    "then than they our out own its it's i'm i've me my mine just need want like know tell let "
    "provide give help some more other".split()
)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9_]+", text.lower()) if len(w) >= 3 and w not in _STOPWORDS}


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text or "") if s.strip()]


def first_person(sentence: str) -> str:
    """Crude second -> first person: "You are X. Your id is Y." -> "I am X. My id is Y."."""
    s = re.sub(r"\bYou are\b", "I am", sentence)
    s = re.sub(r"\byou are\b", "I am", s)
    s = re.sub(r"\bYou're\b", "I'm", s)
    s = re.sub(r"\bYour\b", "My", s)
    s = re.sub(r"\byour\b", "my", s)
    s = re.sub(r"\byourself\b", "myself", s)
    s = re.sub(r"(^|[.!?]\s+|\b(?:if|that|when|and|but|because|since|as)\s+)you\b",
               lambda m: m.group(1) + "I", s)
    s = re.sub(r"(^|[.!?]\s+)You\b", lambda m: m.group(1) + "I", s)
    return re.sub(r"\byou\b", "me", s)


class Tau2ScriptedUser:
    """Keyword-rule customer (see the module docstring for its rules)."""

    def __init__(self, task: Tau2Task, max_turns: int = 10) -> None:
        self.task, self.max_turns = task, max_turns
        instructions = task.user_scenario.instructions
        if isinstance(instructions, StructuredInstructions):
            self.first_message = first_person(instructions.reason_for_call.strip())
            pool = [*_sentences(instructions.known_info or ""), *_sentences(instructions.reason_for_call),
                    *_sentences(instructions.task_instructions)]
            self.instruction_text = f"{instructions.reason_for_call}\n{instructions.task_instructions}"
        else:
            sentences = _sentences(instructions)
            kept = [s for s in sentences if not re.match(r"(You are|Your goal)\b", s)] or sentences
            self.first_message = first_person(" ".join(kept))
            pool = sentences
            self.instruction_text = instructions
        self.pool = [(s, _words(s)) for s in pool]
        self.said: set[int] = set()
        self.replies = 0
        self.idle = 0
        self.pending_tools: list[tuple[str, dict[str, Any]]] = []

    # -- protocol ----------------------------------------------------------------------------
    def opening(self, dialogue: Dialogue) -> UserReply:
        now, later = self._planned_tool_calls(dialogue.device)
        for name, args in now:
            dialogue.use_tool(name, args)
        self.pending_tools = later
        return UserReply(self.first_message or "Hi, I need some help.")

    def reply(self, message: str, dialogue: Dialogue) -> UserReply:
        self.replies += 1
        requests = requested_calls(message, self._device_tools(dialogue.device))
        if requests:
            outputs = [dialogue.use_tool(name, args) for name, args in requests]
            return UserReply("Done. My device shows:\n" + "\n".join(outputs))
        text = self._answer(message.lower())
        if is_stop(text):
            for name, args in self.pending_tools:
                dialogue.use_tool(name, args)
            self.pending_tools = []
        return UserReply(text)

    # -- rules ---------------------------------------------------------------------------------
    def _answer(self, message: str) -> str:
        if _GOODBYE.search(message):
            return STOP
        asks = "?" in message
        if asks and _CONFIRM.search(message):
            return "Yes, please go ahead."
        if "anything else" in message:
            return f"No, that's all. Thank you! {STOP}"
        if not asks and _SUCCESS.search(message):
            return f"Thank you, that's all I needed. {STOP}"
        if self.replies >= self.max_turns:
            return f"I have to go now. {STOP}"
        best = self._best_sentence(_words(message))
        if best is not None:
            self.idle = 0
            self.said.add(best)
            return first_person(self.pool[best][0])
        self.idle += 1
        if self.idle >= 3:
            return f"Never mind, thank you. {STOP}"
        return "Could you please help me with my request?"

    def _best_sentence(self, words: set[str]) -> int | None:
        scores = [(len(words & w), -i) for i, (_, w) in enumerate(self.pool) if i not in self.said]
        if not scores:
            return None
        overlap, neg_index = max(scores)
        return -neg_index if overlap > 0 else None

    @staticmethod
    def _device_tools(device: Device | None) -> dict[str, Any]:
        """Name -> method of the user's tools (their signatures give the arguments to fill)."""
        return device.methods if isinstance(device, UserDevice) else {}

    def _planned_tool_calls(self, device: Device | None) -> tuple[list, list]:
        """User tools the instructions name, with arguments from quoted values nearby."""
        now: list[tuple[str, dict[str, Any]]] = []
        later: list[tuple[str, dict[str, Any]]] = []
        methods = self._device_tools(device)
        for sentence in _sentences(self.instruction_text) if methods else []:
            for name, method in methods.items():
                if not re.search(rf"\b{re.escape(name)}\b", sentence):
                    continue
                required = [p.name for p in list(inspect.signature(method).parameters.values())[1:]
                            if p.default is inspect.Parameter.empty]
                quoted = re.findall(r"'([^']+)'|\"([^\"]+)\"", sentence)
                values = [a or b for a, b in quoted]
                if len(values) < len(required):
                    continue
                call = (name, dict(zip(required, values)))
                (later if re.search(r"\bafter\b", sentence, re.I) else now).append(call)
        return now, later
