"""The Tool seam: what the environment dispatches a parsed call to.

A tool is a named callable with a JSON schema the policy sees. It receives validated
arguments and the episode's state, and returns a :class:`ToolResult` with its text output
and :class:`~orchestra_env.usage.Usage`. The environment does all accounting; tools only
report what they spent.

:func:`function_tool` turns a plain typed Python function (tau2-bench style: signature +
docstring) into a Tool, with the schema generated and the arguments validated by pydantic.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, runtime_checkable

import pydantic

from orchestra_env.usage import Usage

if TYPE_CHECKING:
    from orchestra_env.episode import Episode


@dataclass(frozen=True)
class ToolResult:
    """What one tool call produced.

    ``terminal`` ends the episode (the ``answer`` tool, a user hanging up); ``answer`` is the
    final answer to judge. ``error`` is an error *the policy caused* (bad arguments, code
    that crashed, a backend that failed after retries): it is shown, not raised.
    ``documents`` are the full texts a search retrieved beyond what ``output`` shows the
    policy; experts are shown them when the env says so (``expert_context="documents"``).
    """

    output: str
    usage: Usage = Usage()
    model: str | None = None
    error: str | None = None
    terminal: bool = False
    answer: str | None = None
    documents: tuple[str, ...] = ()


@runtime_checkable
class Tool(Protocol):
    name: str

    def schema(self) -> dict[str, Any]:
        """OpenAI function-calling schema: {"type": "function", "function": {...}}."""
        ...

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validated (and coerced) arguments; raises ``ToolArgumentError`` otherwise."""
        ...

    def __call__(self, arguments: Mapping[str, Any], episode: "Episode") -> ToolResult: ...


class ToolFailure(RuntimeError):
    """A tool's own error type: the tool ran and failed in a way the episode can survive
    (a backend said no). ``OrchestraEnv`` shows it to the policy as an observation."""


def is_tool_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the tool's backend, shown to the policy as an observation.

    Yes: timeouts, network and HTTP errors, sandbox/OS errors (a namespace that cannot be
    created), subprocess errors and :class:`ToolFailure`. No (they propagate, because they are
    the user's or the code's fault and an observation would hide them): ``ImportError`` (an
    extra is missing), ``FileNotFoundError`` (a data file is missing), and programming errors
    (``TypeError``, ``KeyError``, ``AttributeError``, ``AssertionError``, ...).
    """
    import http.client
    import subprocess

    if isinstance(exc, (ImportError, FileNotFoundError)):
        return False
    return isinstance(exc, (ToolFailure, TimeoutError, ConnectionError, OSError, subprocess.SubprocessError,
                            http.client.HTTPException)) or _is_http_library_error(exc)


def _is_http_library_error(exc: BaseException) -> bool:
    """httpx/requests errors by their module, without importing either library."""
    module = type(exc).__module__.split(".")[0]
    return module in ("httpx", "httpcore", "requests", "urllib3") and isinstance(exc, Exception)


class ToolArgumentError(ValueError):
    """The policy called a tool with arguments that do not fit its schema."""


def _docstring_parts(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """Summary text and Google-style ``Args:`` descriptions of a function."""
    doc = inspect.getdoc(fn) or ""
    summary, _, rest = doc.partition("\nArgs:")
    params: dict[str, str] = {}
    current = None
    for line in rest.splitlines():
        if re.match(r"^\S", line) and line.rstrip().endswith(":"):  # next section (Returns:, Raises:)
            break
        m = re.match(r"^\s+(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", line)
        if m:
            current = m.group(1)
            params[current] = m.group(2).strip()
        elif current and line.strip():
            params[current] += " " + line.strip()
    return summary.strip(), params


def _strip_titles(schema: Any, in_properties: bool = False) -> Any:
    """pydantic adds ``title`` to every schema node; function schemas read better without.

    Keys of a ``properties`` mapping are argument names (an argument may be called
    ``title``), so they are kept.
    """
    if isinstance(schema, dict):
        return {
            k: _strip_titles(v, in_properties=(k == "properties" and not in_properties))
            for k, v in schema.items()
            if in_properties or k != "title" or not isinstance(v, str)
        }
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def fields_from_signature(fn: Callable[..., Any], skip: tuple[str, ...] = ("self", "episode")) -> dict[str, Any]:
    """pydantic field definitions for a function's parameters, described by its docstring."""
    _, param_docs = _docstring_parts(fn)
    fields: dict[str, Any] = {}
    for p in inspect.signature(fn).parameters.values():
        if p.name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = Any if p.annotation is inspect.Parameter.empty else p.annotation
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (annotation, pydantic.Field(default, description=param_docs.get(p.name)))
    return fields


class SchemaTool:
    """A tool whose arguments are a pydantic model: one source for schema and validation.

    ``fields`` maps argument names to ``(annotation, pydantic.Field(...))``; subclasses
    implement ``__call__``.
    """

    def __init__(self, name: str, description: str, fields: Mapping[str, Any]) -> None:
        self.name = name
        self.description = description
        self._model = pydantic.create_model(  # type: ignore[call-overload]
            f"{name}_arguments", __config__=pydantic.ConfigDict(extra="forbid"), **dict(fields)
        )
        self._schema = {
            "type": "function",
            "function": {
                "name": name,
                "description": description,
                "parameters": _strip_titles(self._model.model_json_schema()),
            },
        }

    def schema(self) -> dict[str, Any]:
        return self._schema

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        try:
            parsed = self._model.model_validate(dict(arguments))
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            raise ToolArgumentError(f"bad arguments for {self.name!r}: {problems}") from None
        return {k: getattr(parsed, k) for k in type(parsed).model_fields}


class FunctionTool(SchemaTool):
    """Wrap ``fn(**arguments) -> str | ToolResult`` as a tool (domain tools, tau2 style).

    The description the policy sees is the docstring's summary; argument descriptions come
    from its ``Args:`` section. Exceptions the function raises (``ValueError`` and friends,
    as tau2's tools do for "user not found") become error observations.
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        summary, _ = _docstring_parts(fn)
        super().__init__(name or fn.__name__, summary, fields_from_signature(fn))
        self.fn = fn

    def __call__(self, arguments: Mapping[str, Any], episode: "Episode") -> ToolResult:
        try:
            out = self.fn(**arguments)
        except Exception as exc:  # noqa: BLE001 - a domain error is the policy's, shown as text
            return ToolResult(output=f"Error: {exc}", error=f"{type(exc).__name__}: {exc}")
        if isinstance(out, ToolResult):
            return out
        return ToolResult(output=out if isinstance(out, str) else _to_text(out))


def _to_text(value: Any) -> str:
    import json

    if isinstance(value, pydantic.BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except TypeError:
        return str(value)


def function_tool(fn: Callable[..., Any]) -> FunctionTool:
    return FunctionTool(fn)
