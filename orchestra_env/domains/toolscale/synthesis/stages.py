"""One stage = one prompt to an Expert, whose answer is parsed, validated, and repaired once.

The output shape of each stage is a pydantic model; its JSON schema goes into the prompt,
so the model the LLM is asked to fit and the one its answer is checked against are the same
object. After the shape, a stage's *meaning* is checked by a validator of
:mod:`.validation` (references resolve, tools exist ...). A failed check is sent back with
the error text for one more attempt; a second failure rejects the stage with its reason.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Literal, Optional, TypeVar

import pydantic

from orchestra_env.domains.toolscale.synthesis.prompts import REPAIR, Prompt
from orchestra_env.experts.base import Expert, ExpertRequest
from orchestra_env.tasks import derive_seed

IDENT = r"^[a-z][a-z0-9_]*$"


# ---------------------------------------------------------------------- stage outputs
class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class Reference(_Strict):
    field: str = pydantic.Field(pattern=IDENT)
    table: str = pydantic.Field(pattern=IDENT)


class TableSpec(_Strict):
    name: str = pydantic.Field(pattern=IDENT)
    key: str = pydantic.Field(pattern=IDENT)
    description: str = ""
    references: list[Reference] = []


class SchemaOut(_Strict):
    domain: str = pydantic.Field(pattern=IDENT, max_length=40)
    description: str
    tables: list[TableSpec] = pydantic.Field(min_length=1, max_length=8)


class FieldSpec(_Strict):
    name: str = pydantic.Field(pattern=IDENT)
    type: Literal["string", "integer", "number", "boolean"]
    enum: Optional[list[str]] = None
    ref: Optional[str] = None
    nullable: bool = False


class TableModel(_Strict):
    fields: list[FieldSpec] = pydantic.Field(min_length=2)


class DataModelOut(_Strict):
    tables: dict[str, TableModel]


class ToolsOut(_Strict):
    policy: str = pydantic.Field(min_length=20)
    tools: list[str] = pydantic.Field(min_length=1)


class Action(_Strict):
    name: str
    arguments: dict[str, Any] = {}


class TaskOut(_Strict):
    intent: str = pydantic.Field(min_length=1, max_length=60)
    instruction: str = pydantic.Field(min_length=10)
    actions: list[Action] = pydantic.Field(min_length=1, max_length=20)
    required: list[str] = []


class IntentsOut(_Strict):
    tasks: list[TaskOut] = pydantic.Field(min_length=1)


class EvolvedTask(TaskOut):
    source: int = pydantic.Field(ge=0)


class ConstraintsOut(_Strict):
    tasks: list[EvolvedTask]


def database_schema() -> dict[str, Any]:
    """The database stage's shape: tables of records keyed by id (checked by validation)."""
    return {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": {"type": "object"}}}


# ---------------------------------------------------------------------- parsing
FENCE_RE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL)


def extract_json(text: str) -> Any:
    """The JSON object in a completion: the whole text, a fenced block, or the outermost
    ``{...}`` (reasoning models wrap answers in prose and ``<think>`` blocks)."""
    text = THINK_RE.sub("", text).strip()
    candidates = [text] + FENCE_RE.findall(text)
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    last: Exception | None = None
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError as exc:
            last = exc
    raise ValueError(f"not a JSON object ({last})" if text else "empty answer")


def pydantic_problems(exc: pydantic.ValidationError, limit: int = 8) -> str:
    lines = [f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
             + (f" (got {e['input']!r:.60})" if e["type"] != "missing" and not isinstance(e["input"], dict) else "")
             for e in exc.errors()[:limit]]
    more = len(exc.errors()) - limit
    return "; ".join(lines) + (f"; and {more} more" if more > 0 else "")


# ---------------------------------------------------------------------- running a stage
T = TypeVar("T")


class StageRejected(RuntimeError):
    """A stage whose output failed validation after its repair attempt."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"stage {stage!r} rejected: {reason}")
        self.stage, self.reason = stage, reason


@dataclass
class StageRecord:
    """What one stage did: attempts, the errors fed back, the final raw answer."""

    stage: str
    attempts: int = 0
    ok: bool = False
    errors: list[str] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    raw: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "attempts": self.attempts, "ok": self.ok, "errors": self.errors,
                "tokens_in": self.tokens_in, "tokens_out": self.tokens_out}


@dataclass
class Stage(Generic[T]):
    """A prompt, the JSON schema of its answer, and a parser+validator of the answer.

    ``check(data) -> T`` raises ``ValueError`` (or pydantic's error) with a message the model
    can act on; it receives the parsed JSON.
    """

    prompt: Prompt
    json_schema: dict[str, Any]
    check: Callable[[Any], T]


@dataclass
class StageRunner:
    """Asks one Expert; ``max_repairs`` (1) more attempts after a failed validation."""

    expert: Expert
    model: str
    seed: int = 0
    temperature: float = 0.0
    max_tokens: int = 8192
    max_repairs: int = 1
    records: list[StageRecord] = field(default_factory=list)

    def run(self, stage: Stage[T], **fields: Any) -> T:
        record = StageRecord(stage.prompt.stage)
        self.records.append(record)
        messages = list(stage.prompt.messages(stage.json_schema, **fields))
        for attempt in range(self.max_repairs + 1):
            response = self.expert.complete(ExpertRequest(
                model=self.model, messages=tuple(messages), role="synthesis", max_tokens=self.max_tokens,
                temperature=self.temperature, seed=derive_seed(self.seed, record.stage, attempt)))
            record.attempts += 1
            record.tokens_in += response.tokens_in
            record.tokens_out += response.tokens_out
            record.raw = response.text
            if response.error:
                error = f"backend error: {response.error}"
                record.errors.append(error)
                continue  # nothing to repair: ask again
            try:
                value = stage.check(extract_json(response.text))
            except pydantic.ValidationError as exc:
                error = pydantic_problems(exc)
            except ValueError as exc:
                error = str(exc)
            else:
                record.ok = True
                return value
            record.errors.append(error)
            messages += [{"role": "assistant", "content": response.text},
                         {"role": "user", "content": REPAIR.format(error=error)}]
        raise StageRejected(record.stage, record.errors[-1])
