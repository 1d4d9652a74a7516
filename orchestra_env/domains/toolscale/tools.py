"""Generic typed tools derived from a domain's inferred schema.

For every collection ``C`` (singular ``c``) of :class:`~.schema.DomainSchema`:

=====================  ==========================================================
``get_c(key)``          the full record
``find_C(filters...)``  records whose fields equal the filters, optionally sorted by
                        a numeric field (``sort_by``) - look-ups, listings, "cheapest"
``update_c(key, changes)``  set leaf fields (dotted paths), typed and enum-checked
``create_c(values)``    insert a record (id generated deterministically)
``delete_c(key)``       remove a record
``cancel_c(key)``       set the lifecycle status to its cancel value (when it has one)
=====================  ==========================================================

plus ``calculate``. Argument schemas come from the inferred field types, so a bad enum
value, a wrong type or an unknown field is refused by validation with a message that names
the field; domain errors (no such record, dangling foreign key) are returned as text.
Dotted paths (``contact.email``) are argument names the policy sends as they are.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal, Mapping, Optional, Protocol, Union, runtime_checkable

import pydantic

from orchestra_env.domains.arithmetic import arithmetic
from orchestra_env.domains.toolscale.db import EpisodeDB, RecordNotFound
from orchestra_env.domains.toolscale.schema import Collection, DomainSchema, Field
from orchestra_env.tasks import derive_seed
from orchestra_env.tools.base import SchemaTool, ToolResult

if TYPE_CHECKING:
    from orchestra_env.episode import Episode

MAX_FIND_RESULTS = 100
KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


# ---------------------------------------------------------------------- typing helpers
def annotation(f: Field) -> Any:
    """The pydantic type of a leaf, from its inferred JSON types and enum."""
    types = set(f.types)
    base: Any
    if f.enum:
        base = Literal[f.enum]  # type: ignore[valid-type]
    elif types == {"boolean"}:
        base = bool
    elif types == {"integer"}:
        base = int
    elif f.is_numeric:
        base = float
    elif "array" in types:
        base = list[Any]
    elif "object" in types:
        base = dict[str, Any]
    elif len(types) > 1:
        base = Union[str, int, float]
    else:
        base = str
    return Optional[base] if f.nullable else base


def _py_name(path: str) -> str:
    return path.replace(".", "__").replace("-", "_")


def _describe(f: Field, schema: DomainSchema) -> str | None:
    if f.ref:
        return f"id of a {schema.collections[f.ref].singular}"
    return None


def leaf_fields(fields: list[Field], schema: DomainSchema) -> dict[str, Any]:
    """Optional pydantic fields named by dotted path (alias), for filters/changes/values."""
    return {
        _py_name(f.path): (Optional[annotation(f)], pydantic.Field(None, alias=f.path,
                                                               description=_describe(f, schema)))
        for f in fields
    }


def leaf_model(name: str, fields: list[Field], schema: DomainSchema) -> type[pydantic.BaseModel]:
    return pydantic.create_model(  # type: ignore[call-overload]
        name, __config__=pydantic.ConfigDict(extra="forbid"), **leaf_fields(fields, schema)
    )


def get_path(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = record
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = value


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    return a == b


# ---------------------------------------------------------------------- base class
@runtime_checkable
class DatabaseWorld(Protocol):
    """What these tools need of an episode's world: its own database
    (:class:`~orchestra_env.envs.toolscale.ToolScaleWorld` is one)."""

    db: EpisodeDB


class CollectionTool(SchemaTool):
    """A tool over one collection, run on the database of the episode's world (a :class:`DatabaseWorld`)."""

    def __init__(self, name: str, description: str, fields: Mapping[str, Any],
                 schema: DomainSchema, collection: Collection) -> None:
        super().__init__(name, description, fields)
        self._schema = _compact(self._schema)
        self.domain = schema
        self.c = collection
        self.parent = schema.collections[collection.parent] if collection.parent else None

    def __call__(self, arguments: Mapping[str, Any], episode: "Episode") -> ToolResult:
        db = episode.world_as(DatabaseWorld).db
        try:
            return ToolResult(self.run(db, arguments))
        except (RecordNotFound, ValueError) as exc:
            return ToolResult(f"Error: {exc}", error=f"{type(exc).__name__}: {exc}")

    def run(self, db: EpisodeDB, arguments: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def parent_key(self, arguments: Mapping[str, Any]) -> str | None:
        return arguments.get(self.parent.key) if self.parent else None

    def view(self, parent_key: str | None, record: Mapping[str, Any]) -> dict[str, Any]:
        """A record as shown to the policy: nested records also name their parent."""
        if self.parent is None or self.parent.key in record:
            return dict(record)
        return {self.parent.key: parent_key, **record}

    def check_refs(self, db: EpisodeDB, values: Mapping[str, Any]) -> None:
        for path, value in values.items():
            f = self.c.fields.get(path)
            if f is not None and f.ref and value is not None and not db.exists(f.ref, value):
                target = self.domain.collections[f.ref]
                raise ValueError(f"{path} = {value!r} is not an existing {target.singular} "
                                 f"({target.key}); use find_{target.name} to look it up.")


def _compact(node: Any) -> Any:
    """Shorten what the policy reads: an optional argument ``{"anyOf": [T, null], "default":
    null}`` is shown as plain ``T`` (leaving it out means "not given"); validation is unchanged."""
    if isinstance(node, list):
        return [_compact(v) for v in node]
    if not isinstance(node, dict):
        return node
    options = node.get("anyOf")
    if node.get("default", 0) is None and isinstance(options, list) and len(options) == 2 \
            and {"type": "null"} in options:
        inner = next(o for o in options if o != {"type": "null"})
        rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
        return _compact({**inner, **rest})
    return {k: _compact(v) for k, v in node.items()}


def _changes(model_value: Any) -> dict[str, Any]:
    if model_value is None:
        return {}
    return model_value.model_dump(by_alias=True, exclude_unset=True)


# ---------------------------------------------------------------------- the tools
class GetTool(CollectionTool):
    def __init__(self, schema: DomainSchema, c: Collection) -> None:
        super().__init__(f"get_{c.singular}", f"Get the full record of a {c.singular} by its {c.key}.",
                         {**self_fields(c, schema, "key"), **self_fields(c, schema, "parent")}, schema, c)

    def run(self, db: EpisodeDB, arguments: Mapping[str, Any]) -> str:
        pk, rec = db.locate(self.c.name, arguments[self.c.key], self.parent_key(arguments))
        return to_json(self.view(pk, rec))


class FindTool(CollectionTool):
    """Exact-match filters over shallow leaves; ``sort_by`` a numeric leaf for extremes."""

    def __init__(self, schema: DomainSchema, c: Collection) -> None:
        self.filters = filter_fields(c)
        numeric = tuple(f.path for f in c.fields.values() if f.is_numeric)
        fields: dict[str, Any] = {**self_fields(c, schema, "parent_filter"), **leaf_fields(self.filters, schema)}
        if numeric:
            fields["sort_by"] = (Optional[Literal[numeric]],  # type: ignore[valid-type]
                                 pydantic.Field(None, description="Order results by this numeric field."))
            fields["descending"] = (bool, pydantic.Field(False, description="Largest first."))
        fields["limit"] = (int, pydantic.Field(20, ge=1, le=MAX_FIND_RESULTS, description="Most results to return."))
        where = f" (optionally of one {schema.collections[c.parent].singular})" if c.parent else ""
        description = (f"Find {c.name}{where} whose fields equal the given values (text is "
                       f"case-insensitive); no filter lists them all. Returns the total and a "
                       f"summary of each match; use get_{c.singular} for the full record.")
        super().__init__(f"find_{c.name}", description, fields, schema, c)

    def run(self, db: EpisodeDB, arguments: Mapping[str, Any]) -> str:
        wanted = {f.path: arguments.get(_py_name(f.path)) for f in self.filters}
        wanted = {p: v for p, v in wanted.items() if v is not None}
        parent_key = self.parent_key(arguments)
        hits = []
        for pk, key, rec in db.records(self.c.name):
            if parent_key is not None and pk != parent_key:
                continue
            if all(_same(get_path(rec, p), v) for p, v in wanted.items()):
                hits.append((pk, key, rec))
        sort_by = arguments.get("sort_by")
        if sort_by:
            hits = [h for h in hits if isinstance(get_path(h[2], sort_by), (int, float))]
            hits.sort(key=lambda h: get_path(h[2], sort_by), reverse=bool(arguments.get("descending")))
        shown = [self.summary(pk, key, rec) for pk, key, rec in hits[: arguments["limit"]]]
        return to_json({"total": len(hits), "results": shown})

    def summary(self, pk: str | None, key: str, rec: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {self.c.key: key}
        if self.parent is not None:
            out[self.parent.key] = pk
        for f in self.c.fields.values():
            if f.is_scalar and f.path.count(".") <= 1 and f.path not in out:
                out[f.path] = get_path(rec, f.path)
        return out


class UpdateTool(CollectionTool):
    def __init__(self, schema: DomainSchema, c: Collection) -> None:
        self.updatable = writable_fields(c)
        model = leaf_model(f"{c.singular}_changes", self.updatable, schema)
        fields = {**self_fields(c, schema, "key"), **self_fields(c, schema, "parent"),
                  "changes": (model, pydantic.Field(..., description="Fields to set, by dotted path."))}
        super().__init__(f"update_{c.singular}", f"Set fields of a {c.singular}; returns the updated record.",
                         fields, schema, c)

    def run(self, db: EpisodeDB, arguments: Mapping[str, Any]) -> str:
        changes = _changes(arguments["changes"])
        if not changes:
            raise ValueError("changes is empty: give at least one field to set.")
        self.check_refs(db, changes)
        key, parent_key = arguments[self.c.key], self.parent_key(arguments)
        pk, _ = db.locate(self.c.name, key, parent_key)
        rec = db.writable(self.c.name, key, pk)
        for path, value in changes.items():
            set_path(rec, path, value)
        return to_json(self.view(pk, rec))


class CreateTool(CollectionTool):
    def __init__(self, schema: DomainSchema, c: Collection) -> None:
        self.settable = writable_fields(c)
        self.required = [f.path for f in self.settable if f.ref and not f.nullable and f.coverage == 1.0]
        model = leaf_model(f"{c.singular}_values", self.settable, schema)
        need = f" Required: {', '.join(self.required)}." if self.required else ""
        fields = {**self_fields(c, schema, "parent_required"),
                  "values": (model, pydantic.Field(..., description="Field values, by dotted path."
                                                   " Fields not given are left empty." + need))}
        super().__init__(f"create_{c.singular}",
                         f"Create a new {c.singular}; its {c.key} is assigned and returned.", fields, schema, c)

    def run(self, db: EpisodeDB, arguments: Mapping[str, Any]) -> str:
        values = _changes(arguments["values"])
        missing = [p for p in self.required if values.get(p) is None]
        if missing:
            raise ValueError(f"values is missing required field(s): {', '.join(missing)}.")
        self.check_refs(db, values)
        parent_key = self.parent_key(arguments)
        key = new_key(self.domain, db, self.c)
        record = skeleton(self.c)
        record[self.c.key] = key
        for path, value in values.items():
            set_path(record, path, value)
        db.insert(self.c.name, key, record, parent_key)
        return to_json({"created": key, "record": self.view(parent_key, record)})


class DeleteTool(CollectionTool):
    def __init__(self, schema: DomainSchema, c: Collection) -> None:
        super().__init__(f"delete_{c.singular}", f"Delete a {c.singular} permanently.",
                         {**self_fields(c, schema, "key"), **self_fields(c, schema, "parent")}, schema, c)

    def run(self, db: EpisodeDB, arguments: Mapping[str, Any]) -> str:
        key = arguments[self.c.key]
        db.remove(self.c.name, key, self.parent_key(arguments))
        return f"Deleted {self.c.singular} {key}."


class CancelTool(CollectionTool):
    def __init__(self, schema: DomainSchema, c: Collection, status: Field, value: str) -> None:
        self.status, self.value = status, value
        super().__init__(f"cancel_{c.singular}",
                         f"Cancel a {c.singular}: sets its {status.path} to {value!r}.",
                         {**self_fields(c, schema, "key"), **self_fields(c, schema, "parent")}, schema, c)

    def run(self, db: EpisodeDB, arguments: Mapping[str, Any]) -> str:
        key = arguments[self.c.key]
        pk, rec = db.locate(self.c.name, key, self.parent_key(arguments))
        if get_path(rec, self.status.path) == self.value:
            raise ValueError(f"{self.c.singular} {key} is already {self.value}.")
        rec = db.writable(self.c.name, key, pk)
        set_path(rec, self.status.path, self.value)
        return to_json(self.view(pk, rec))


class CalculateTool(SchemaTool):
    """Arithmetic on numbers (+ - * / ** % and parentheses), rounded to 2 decimals."""

    OPERATORS = ("+", "-", "*", "/", "**", "%")

    def __init__(self) -> None:
        super().__init__("calculate", "Evaluate an arithmetic expression, e.g. '(120.5 - 20) * 2'.",
                         {"expression": (str, pydantic.Field(..., description="The expression."))})

    def __call__(self, arguments: Mapping[str, Any], episode: "Episode") -> ToolResult:
        try:
            return ToolResult(str(round(arithmetic(arguments["expression"], self.OPERATORS), 2)))
        except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, TypeError) as exc:
            return ToolResult(f"Error: cannot evaluate: {exc}", error=f"calculate: {exc}")


# ---------------------------------------------------------------------- derivation
def self_fields(c: Collection, schema: DomainSchema, which: str) -> dict[str, Any]:
    """The key / parent-key arguments shared by several tools."""
    parent = schema.collections[c.parent] if c.parent else None
    if which == "key":
        return {c.key: (str, pydantic.Field(..., description=f"The {c.singular}'s id."))}
    if parent is None:
        return {}
    if which == "parent_required":
        return {parent.key: (str, pydantic.Field(..., description=f"The {parent.singular} to add it to."))}
    text = f"The {parent.singular} that holds it" + (" (to disambiguate)." if which == "parent" else ".")
    return {parent.key: (Optional[str], pydantic.Field(None, description=text))}


def filter_fields(c: Collection) -> list[Field]:
    """Leaves offered as find filters: scalar, at most one level deep, not free text dates."""
    return [f for f in c.fields.values()
            if f.is_scalar and f.path.count(".") <= 1 and f.coverage >= 0.9]


def writable_fields(c: Collection) -> list[Field]:
    """Leaves a write may set: everything but the key (lists and opaque objects as a whole)."""
    return [f for f in c.fields.values() if f.path != c.key]


def skeleton(c: Collection) -> dict[str, Any]:
    """An empty record of the collection's shape: leaves null, lists empty, objects present."""
    record: dict[str, Any] = {}
    for path in c.object_paths:
        set_path(record, path, {})
    for f in c.fields.values():
        empty: Any = [] if "array" in f.types else ({} if "object" in f.types else None)
        set_path(record, f.path, empty)
    return record


def new_key(schema: DomainSchema, db: EpisodeDB, c: Collection) -> str:
    """A fresh id that depends only on the database state, so that a policy repeating the
    gold writes creates the very same ids."""
    existing = {k for _, k, _ in db.records(c.name)}
    lengths = sorted(len(str(k)) for k in existing) or [7]
    length = min(max(lengths[len(lengths) // 2], 6), 10)
    for attempt in range(1000):
        seed = derive_seed(schema.domain, c.name, len(existing), attempt)
        key = "".join(KEY_ALPHABET[(seed >> (5 * i)) % len(KEY_ALPHABET)] for i in range(length))
        if key not in existing:
            return key
    raise RuntimeError(f"could not find a free id in {c.name}")


def derive_tools(schema: DomainSchema) -> dict[str, SchemaTool]:
    """All derived tools of a domain, by name (get/find/update/create/delete/cancel + calculate)."""
    tools: list[SchemaTool] = []
    for c in schema.collections.values():
        tools += [GetTool(schema, c), FindTool(schema, c), UpdateTool(schema, c),
                  CreateTool(schema, c), DeleteTool(schema, c)]
        status, cancel = c.status_field(), c.cancel_value()
        if status is not None and cancel is not None:
            tools.append(CancelTool(schema, c, status, cancel))
    tools.append(CalculateTool())
    out: dict[str, SchemaTool] = {}
    for t in tools:
        if t.name in out:
            raise ValueError(f"{schema.domain}: two derived tools named {t.name!r}")
        out[t.name] = t
    return out
