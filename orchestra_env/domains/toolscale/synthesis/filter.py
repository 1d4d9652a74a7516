"""The execution filter: a synthesized task is kept only if its gold runs and it is not trivial.

Rules, checked in this order on a fresh copy of the database (the first that fires is the
task's rejection reason, counted per reason in the report):

==========================  ===========================================================
``unknown_tool``            a gold call names a tool the domain does not derive
``bad_arguments``           a gold call's arguments do not fit the tool's schema
``gold_error``              a gold call fails on the database (no such record ...)
``answer_not_in_outputs``   a required fact appears in no gold output (cannot be found)
``not_grounded``            an argument value is neither in the instruction nor in an
                            earlier gold output nor an allowed enum value (the agent could
                            not know it; ids must be real entities the user or tools give)
``do_nothing_solves``       the gold leaves the database unchanged and tells nothing
``no_op_step``              a gold write changes nothing (it repeats the current value)
``single_call_solves``      a gold call whose arguments the instruction alone gives
                            already yields the gold database and states every fact
``duplicate``               same gold calls and facts as a task already kept
``not_harder``              (evolved tasks) no more calls and no more facts than its source
``unknown_source``          (evolved tasks) ``source`` is not a kept task's index
==========================  ===========================================================

The env's reward (same database as the gold AND every fact told) is what these rules
protect: a kept task scores 1.0 for its gold replay and 0.0 for a policy that only says
goodbye, and is out of reach of one lucky call.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from orchestra_env.domains.conversation import mentions
from orchestra_env.domains.toolscale.db import Domain
from orchestra_env.domains.toolscale.generator import READ_PREFIXES, GoldReplayError, replay
from orchestra_env.domains.toolscale.synthesis.stages import TaskOut
from orchestra_env.domains.toolscale.tools import CollectionTool
from orchestra_env.tools.base import ToolArgumentError

MECHANICS = frozenset({"sort_by", "descending", "limit"})  # how to call, not what about
REASONS = ("unknown_tool", "bad_arguments", "gold_error", "answer_not_in_outputs", "not_grounded",
           "do_nothing_solves", "no_op_step", "single_call_solves", "duplicate", "not_harder",
           "unknown_source")


class Rejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass
class FilterLog:
    """Counts per reason, and one line per candidate (kept or why not)."""

    kept: int = 0
    rejected: Counter = field(default_factory=Counter)
    decisions: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, task_id: str, reason: str, detail: str) -> None:
        self.rejected[reason] += 1
        self.decisions.append({"task_id": task_id, "kept": False, "reason": reason, "detail": detail})

    def as_dict(self) -> dict[str, Any]:
        return {"candidates": self.kept + sum(self.rejected.values()), "kept": self.kept,
                "rejected": {r: self.rejected[r] for r in REASONS if self.rejected[r]},
                "decisions": self.decisions}


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v, path)
    elif value is not None and not isinstance(value, bool):
        yield path, value


class ExecutionFilter:
    """Screens tasks of one domain; remembers kept ones to reject duplicates."""

    def __init__(self, domain: Domain, tools: Mapping[str, Any]) -> None:
        self.domain, self.tools = domain, tools
        self.pristine = domain.new_db()
        self.enums = {v for c in domain.schema.collections.values() for f in c.fields.values()
                      for v in (f.enum or ())}
        self._seen: set[str] = set()
        self.log = FilterLog()

    def screen(self, task: TaskOut, task_id: str, source: TaskOut | None = None) -> dict[str, Any] | None:
        """The kept task's record for ``tasks.json``, or None (the reason is logged)."""
        try:
            record = self._check(task, task_id, source)
        except Rejected as exc:
            self.log.reject(task_id, exc.reason, exc.detail)
            return None
        self.log.kept += 1
        self.log.decisions.append({"task_id": task_id, "kept": True})
        return record

    # ------------------------------------------------------------------ the rules
    def _check(self, task: TaskOut, task_id: str, source: TaskOut | None) -> dict[str, Any]:
        actions = [{"name": a.name, "arguments": dict(a.arguments)} for a in task.actions]
        for a in actions:
            tool = self.tools.get(a["name"])
            if not isinstance(tool, CollectionTool):
                raise Rejected("unknown_tool", a["name"])
            try:
                tool.validate(a["arguments"])
            except ToolArgumentError as exc:
                raise Rejected("bad_arguments", str(exc)) from None
        outputs = self._replay(actions)
        gold = self.domain.new_db()
        replay(self.tools, gold, actions)
        for fact in task.required:
            if not any(mentions(o, fact) for o in outputs):
                raise Rejected("answer_not_in_outputs", fact)
        self._grounded(task.instruction, actions, outputs)
        writes = bool(gold.diff(self.pristine))
        if not writes and not task.required:
            raise Rejected("do_nothing_solves", "the gold changes nothing and tells nothing")
        self._no_op_steps(actions)
        self._single_call(task.instruction, actions, gold, task.required)
        signature = json.dumps([actions, sorted(task.required)], sort_keys=True)
        if signature in self._seen:
            raise Rejected("duplicate", "same gold calls and facts as a kept task")
        if source is not None and len(actions) <= len(source.actions) and \
                len(task.required) <= len(source.required):
            raise Rejected("not_harder", f"{len(actions)} calls, {len(task.required)} facts, as its source")
        self._seen.add(signature)
        return {"task_id": task_id, "intent": task.intent, "instruction": task.instruction,
                "actions": actions, "required": list(task.required), "writes": writes,
                "difficulty": "evolved" if source is not None else "base"}

    def _replay(self, actions: list[dict[str, Any]]) -> list[str]:
        try:
            return replay(self.tools, self.domain.new_db(), actions)
        except GoldReplayError as exc:
            raise Rejected("gold_error", str(exc)) from None

    def _unknown_value(self, arguments: Mapping[str, Any], known: list[str]) -> tuple[str, Any] | None:
        """The first argument value none of ``known`` states (mechanics and enum values are
        known from the tool schema), else None."""
        for path, value in _leaves(arguments):
            if path.split(".")[0] in MECHANICS or (isinstance(value, str) and value in self.enums):
                continue
            if not any(mentions(text, str(value)) for text in known):
                return path, value
        return None

    def _grounded(self, instruction: str, actions: list[dict[str, Any]], outputs: list[str]) -> None:
        for i, a in enumerate(actions):
            missing = self._unknown_value(a["arguments"], [instruction, *outputs[:i]])
            if missing is not None:
                raise Rejected("not_grounded", f"{a['name']}: {missing[0]} = {missing[1]!r} is given neither "
                                               "by the user nor by an earlier call")

    def _no_op_steps(self, actions: list[dict[str, Any]]) -> None:
        for i, a in enumerate(actions):
            if a["name"].startswith(READ_PREFIXES):
                continue
            before, after = self.domain.new_db(), self.domain.new_db()
            replay(self.tools, before, actions[:i])
            replay(self.tools, after, actions[:i + 1])
            if not after.diff(before):
                raise Rejected("no_op_step", f"call {i} ({a['name']}) changes nothing")

    def _single_call(self, instruction: str, actions: list[dict[str, Any]], gold: Any,
                     required: list[str]) -> None:
        """A policy that reads the instruction and makes one call: can any gold call it could
        write from the instruction alone finish the task?"""
        for a in actions:
            if self._unknown_value(a["arguments"], [instruction]) is not None:
                continue
            db = self.domain.new_db()
            try:
                (output,) = replay(self.tools, db, [a])
            except GoldReplayError:
                continue
            if not db.diff(gold) and all(mentions(output, fact) for fact in required):
                raise Rejected("single_call_solves", f"{a['name']} alone, with what the user says")
