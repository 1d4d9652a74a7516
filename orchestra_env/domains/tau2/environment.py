"""One episode's tau2 world: the agent's toolkit, the user's toolkit, and how calls run.

Mirrors tau2's ``environment/environment.py`` where scoring depends on it:

* a tool's result is serialised as tau2 does (:func:`to_json_str`), and an exception it
  raises becomes ``"Error: <message>"`` (the call still counts as made);
* ``initial_state`` is applied in tau2's order: ``initialization_data`` (a deep merge into
  the databases), then ``initialization_actions``, then the tool calls of
  ``message_history`` replayed;
* two worlds are in the same state when both databases are equal (:func:`same_db`).

Two ways to run a call (``exact``), the same door for the policy, the gold replay and the
initial-state replay:

* ``exact=True`` (tau2's ``ToolKitBase.use_tool``): the arguments reach the tool method as
  they are, so a float stays a float ("amount 100.0", ``2.0`` stored), a wrong type fails
  where tau2's code fails (``"3" - 1`` raises ``unsupported operand type(s)``) or passes
  where tau2's passes, and a missing or extra argument is Python's own ``TypeError`` text,
  named after tau2's class (``AirlineTools.send_certificate() missing 1 required ...``).
* ``exact=False`` (validated): arguments are validated and coerced with a pydantic model
  built from each tool method's signature (cached per method); a bad argument is a
  ``bad arguments for 'tool': field: problem`` error and the tool does not run.
"""
from __future__ import annotations

import copy
import inspect
import json
import logging
import re
import typing
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Callable, Mapping

import pydantic

from orchestra_env.domains.tau2.domain import Tau2Domain
from orchestra_env.domains.tau2.tasks import EnvAssertion, EnvFunctionCall, InitialState, Requestor
from orchestra_env.domains.toolkit import ToolKit
from orchestra_env.tools.base import fields_from_signature

logger = logging.getLogger(__name__)


def tool_summary(method: Callable[..., Any]) -> str:
    """A tool's description: its docstring up to the ``Args:`` section."""
    return (inspect.getdoc(method) or "").partition("\nArgs:")[0].strip()


def resolved_fields(method: Callable[..., Any]) -> dict[str, Any]:
    """pydantic fields of a tool method's arguments, annotations resolved with
    ``get_type_hints`` so that tool modules may use ``from __future__ import annotations``."""
    hints = typing.get_type_hints(method)
    return {
        name: (hints.get(name, annotation), field)
        for name, (annotation, field) in fields_from_signature(method).items()
    }


@lru_cache(maxsize=None)
def arguments_model(method: Callable[..., Any]) -> type[pydantic.BaseModel]:
    """The pydantic model of a tool method's arguments (extra arguments are errors)."""
    return pydantic.create_model(  # type: ignore[call-overload]
        f"{method.__name__}_arguments",
        __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True),
        **resolved_fields(method),
    )


def coerce_arguments(method: Callable[..., Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    parsed = arguments_model(method).model_validate(dict(arguments))
    return {k: getattr(parsed, k) for k in type(parsed).model_fields}


# tau2-bench a2c0247 locks pydantic 2.12 (uv.lock): its validation errors link to that version's pages
TAU2_PYDANTIC_DOCS = "https://errors.pydantic.dev/2.12/"
_PYDANTIC_DOCS = re.compile(r"https://errors\.pydantic\.dev/[0-9.]+/")


def call_raw(kit: ToolKit, name: str, method: Callable[..., Any], arguments: Mapping[str, Any]) -> Any:
    """Call a tool with the arguments as they came, as tau2's ``use_tool`` does
    (``self.tools[tool_name](**kwargs)`` on the toolkit's bound method).

    Python names the function in a call's ``TypeError`` by its ``__qualname__``; tau2 defines
    every tool on the domain's toolkit class, while ours may come from a mixin
    (``HumanTransfer.transfer_to_human_agents``), so the prefix is re-named to the toolkit's
    class, whose names are tau2's (``AirlineTools``, ``TelecomUserTools``, ...)."""
    try:
        return method(kit, **arguments)
    except TypeError as exc:
        ours, theirs = f"{method.__qualname__}()", f"{type(kit).__name__}.{name}()"
        text = str(exc)
        if ours != theirs and text.startswith(ours):
            raise TypeError(theirs + text[len(ours):]) from exc
        raise


def tau2_error_text(exc: BaseException) -> str:
    """The message tau2 shows after ``Error: `` (``str(e)``), pydantic's links pointing at
    the pydantic version tau2 runs."""
    return _PYDANTIC_DOCS.sub(TAU2_PYDANTIC_DOCS, str(exc))


def to_json_str(value: Any) -> str:
    """tau2's ``Environment.to_json_str``: strings as they are, models dumped, JSON otherwise."""
    if isinstance(value, str):
        return value
    return json.dumps(_plain(value), default=str)


def _plain(value: Any) -> Any:
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(warnings=False)  # exact mode may store a raw value of another type
    if isinstance(value, (str, type(None))):
        return value
    if isinstance(value, (bool, int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise ValueError(f"Unsupported type: {type(value)}")


class Tau2Environment:
    """The agent's and the user's toolkits over private copies of the domain's databases."""

    def __init__(self, domain: Tau2Domain, solo: bool = False, exact: bool = False) -> None:
        self.domain = domain
        self.solo = solo
        self.exact = exact
        self.tools, self.user_tools = domain.new_toolkits()

    def user_device(self) -> "UserDevice | None":
        """The user's tools as the conversation layer's device (None when the user has none)."""
        return None if self.user_tools is None else UserDevice(self)

    # ---------------------------------------------------------------- tool calls
    def toolkit(self, requestor: Requestor, name: str | None = None) -> ToolKit:
        """Which toolkit serves a call (solo: the agent may use the user's tools too)."""
        if requestor == "user" or (
            self.solo and self.user_tools is not None and name in self.user_tools.tool_methods()
        ):
            if self.user_tools is None:
                raise ValueError("User tools not available")
            return self.user_tools
        return self.tools

    def call(self, name: str, arguments: Mapping[str, Any], requestor: Requestor = "assistant") -> tuple[str, bool]:
        """Run a tool; returns (output text, whether it failed). Never raises for the policy's errors."""
        try:
            kit = self.toolkit(requestor, name)
            method = kit.tool_methods().get(name)
            if method is None:
                raise ValueError(f"Tool '{name}' not found.")
            if self.exact:
                result = call_raw(kit, name, method, arguments)
            else:
                result = method(kit, **coerce_arguments(method, arguments))
            self._sync()
            return to_json_str(result), False
        except Exception as exc:  # noqa: BLE001 - tau2 shows every tool exception to the agent
            if self.exact:
                return f"Error: {tau2_error_text(exc)}", True
            if isinstance(exc, pydantic.ValidationError):
                exc = ValueError(_validation_message(name, exc))
            return f"Error: {exc}", True

    def _sync(self) -> None:
        if self.domain.sync is not None:
            self.domain.sync(self.tools, self.user_tools)

    # ---------------------------------------------------------------- env functions
    def run_function(self, call: EnvFunctionCall) -> Any:
        """An initialisation action or assertion, by name (domain.env_functions first)."""
        kit = self.tools if call.env_type == "assistant" else self.user_tools
        if kit is None:
            raise ValueError(f"no {call.env_type} toolkit in domain {self.domain.name!r}")
        fn = self.domain.env_functions.get(call.func_name)
        if fn is not None:
            result = fn(kit, **call.arguments)
        else:
            method = getattr(kit, call.func_name, None)
            if method is None:
                raise ValueError(f"Function {call.func_name} not found in {call.env_type} tools")
            result = method(**call.arguments)
        self._sync()
        return result

    def check(self, assertion: EnvAssertion) -> bool:
        result = self.run_function(assertion)
        if not isinstance(result, bool):
            raise ValueError(f"Function {assertion.func_name} returned {type(result)} instead of bool")
        return result == assertion.assert_value

    # ---------------------------------------------------------------- state
    def apply_initial_state(self, state: InitialState | None) -> None:
        """tau2's ``set_state`` for the part before the episode."""
        if state is None:
            return
        data = state.initialization_data
        if data is not None and data.agent_data:
            update_db(self.tools.db, data.agent_data, self.domain.tables)
        if data is not None and data.user_data and self.user_tools is not None:
            update_db(self.user_tools.db, data.user_data, self.domain.user_tables)
        for action in state.initialization_actions or []:
            self.run_function(action)
        for message in state.message_history or []:
            for tc in message.tool_calls or []:
                self.call(tc.name, tc.arguments, tc.requestor)

    def same_state(self, other: "Tau2Environment") -> bool:
        """Both databases equal (tau2 compares the hashes of the agent and the user DB).

        Exact mode compares as tau2's hash does (``json.dumps`` of ``model_dump()``), so a
        stored ``2.0`` differs from ``2``; validated mode compares values (``2 == 2.0``),
        which cannot differ there since coercion stores every number with its field's type."""
        exact = self.exact or other.exact
        if not same_db(self.tools.db, other.tools.db, self.domain.tables, exact):
            return False
        if self.user_tools is None or other.user_tools is None:
            return self.user_tools is other.user_tools
        return same_db(self.user_tools.db, other.user_tools.db, self.domain.user_tables, exact)


class UserDevice:
    """A world's user toolkit as a :class:`~orchestra_env.domains.conversation.Device`:
    calls run with requestor "user", as tau2's user simulator makes them."""

    def __init__(self, world: Tau2Environment) -> None:
        assert world.user_tools is not None
        self.world = world
        self.methods = world.user_tools.tool_methods()

    def tools(self) -> dict[str, str]:
        return {name: tool_summary(method) for name, method in self.methods.items()}

    def call(self, name: str, arguments: Mapping[str, Any]) -> tuple[str, bool]:
        return self.world.call(name, arguments, requestor="user")


def same_db(a: Any, b: Any, tables: tuple[str, ...], exact: bool = False) -> bool:
    """Equality of two databases that share most records: records still shared with the
    pristine database compare by identity, so the cost is that of the records a tool touched.
    ``exact``: the others compare by their JSON text, as tau2's ``get_dict_hash`` sees them."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    differ = _differ_as_json if exact else (lambda x, y: x != y)
    for name in type(a).model_fields:
        x, y = getattr(a, name), getattr(b, name)
        if name in tables:
            if x is y:
                continue
            if x.keys() != y.keys():
                return False
            if any(rx is not y[k] and differ(rx, y[k]) for k, rx in x.items()):
                return False
        elif differ(x, y):
            return False
    return True


def _differ_as_json(x: Any, y: Any) -> bool:
    return _hash_text(x) != _hash_text(y)


def _hash_text(value: Any) -> str:
    """tau2's ``get_dict_hash`` input: ``json.dumps(..., sort_keys=True, default=str)`` of the dump."""
    return json.dumps(_dump(value), sort_keys=True, default=str)


def _dump(value: Any) -> Any:
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(warnings=False)  # a raw-typed field (exact mode) dumps as it is
    if isinstance(value, Mapping):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dump(v) for v in value]
    return value


def update_db(db: Any, patch: Mapping[str, Any], tables: tuple[str, ...]) -> None:
    """Deep-merge ``patch`` into ``db`` in place, as tau2's ``update_db`` (addict merge:
    dicts merge recursively, everything else is replaced). Only patched records are rebuilt."""
    fields = type(db).model_fields
    for name, value in patch.items():
        if name not in fields:
            raise ValueError(f"initialization data names {name!r}, not a field of {type(db).__name__}")
        if name in tables and isinstance(value, Mapping):
            table = getattr(db, name)
            adapter = pydantic.TypeAdapter(fields[name].annotation)
            for key, record_patch in value.items():
                old = table.get(key)
                merged = _merge(old.model_dump() if old is not None else {}, record_patch)
                table[key] = adapter.validate_python({key: merged})[key]
        else:
            current = getattr(db, name)
            dumped = current.model_dump() if isinstance(current, pydantic.BaseModel) else copy.deepcopy(current)
            merged = _merge(dumped, value) if isinstance(value, Mapping) else value
            setattr(db, name, pydantic.TypeAdapter(fields[name].annotation).validate_python(merged))


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, Mapping):
        out = dict(base)
        for k, v in patch.items():
            out[k] = _merge(base.get(k), v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(patch)


def _validation_message(name: str, exc: pydantic.ValidationError) -> str:
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
    return f"bad arguments for {name!r}: {problems}"
