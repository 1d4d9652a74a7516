"""What each stage's answer must mean, beyond its JSON shape.

Every check raises ``ValueError`` with a message written for the model that produced the
answer (it is fed back verbatim for the repair attempt): it names the table, record or tool
and says what to change. The database check ends by building the domain exactly as the env
will (schema inference + derived tools) and calling every ``get_*``/``find_*`` once, so a
database that passes is one the env can serve.
"""
from __future__ import annotations

import re
from typing import Any

from orchestra_env.domains.toolscale.db import Domain
from orchestra_env.domains.toolscale.folder import domain_from_data
from orchestra_env.domains.toolscale.schema import MAX_ENUM_VALUES, singular
from orchestra_env.domains.toolscale.synthesis.stages import DataModelOut, SchemaOut, ToolsOut
from orchestra_env.domains.toolscale.tools import CollectionTool, derive_tools

MAX_ERRORS = 8
TOOL_NAME_RE = re.compile(r"\b((?:get|find|update|create|delete|cancel)_[a-z0-9_]+)\b")
PY_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                         "boolean": (bool,)}


def _fail(errors: list[str]) -> None:
    if errors:
        more = f" (and {len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
        raise ValueError("; ".join(errors[:MAX_ERRORS]) + more)


def check_schema(out: SchemaOut) -> SchemaOut:
    """Unique tables and keys, references to existing tables (which the tools can follow)."""
    errors: list[str] = []
    names = [t.name for t in out.tables]
    keys = [t.key for t in out.tables]
    for dup in {n for n in names if names.count(n) > 1}:
        errors.append(f"table {dup!r} appears twice")
    for dup in {k for k in keys if keys.count(k) > 1}:
        errors.append(f"key {dup!r} is the key of two tables; give each table its own <singular>_id")
    singulars = [singular(n) for n in names]
    for dup in {s for s in singulars if singulars.count(s) > 1}:
        errors.append(f"two tables have the singular {dup!r}: their tools would clash")
    for t in out.tables:
        for r in t.references:
            if r.table not in names:
                errors.append(f"{t.name}.{r.field} references unknown table {r.table!r}")
            elif r.table == t.name:
                errors.append(f"{t.name}.{r.field} references its own table; drop it")
            if r.field == t.key:
                errors.append(f"{t.name}: the key {t.key!r} cannot also be a reference")
    _fail(errors)
    return out


def check_data_model(dm: DataModelOut, schema: SchemaOut) -> DataModelOut:
    """Every table of the schema typed: key and references as string fields, sane enums."""
    errors: list[str] = []
    tables = {t.name: t for t in schema.tables}
    for name in tables.keys() - dm.tables.keys():
        errors.append(f"table {name!r} of the schema has no fields")
    for name in dm.tables.keys() - tables.keys():
        errors.append(f"table {name!r} is not in the schema")
    for name, model in dm.tables.items():
        if name not in tables:
            continue
        spec = tables[name]
        fields = {f.name: f for f in model.fields}
        if len(fields) != len(model.fields):
            errors.append(f"{name}: a field name appears twice")
        key = fields.get(spec.key)
        if key is None or key.type != "string" or key.nullable:
            errors.append(f"{name}: the key {spec.key!r} must be a non-null string field")
        for r in spec.references:
            f = fields.get(r.field)
            if f is None or f.type != "string" or f.ref != r.table:
                errors.append(f"{name}.{r.field}: must be a string field with \"ref\": {r.table!r}")
        for f in model.fields:
            if f.ref is not None and f.ref not in tables:
                errors.append(f"{name}.{f.name}: ref {f.ref!r} is not a table")
            if f.enum is not None:
                if f.type != "string" or f.ref is not None:
                    errors.append(f"{name}.{f.name}: only plain string fields can have an enum")
                elif not 2 <= len(set(f.enum)) <= MAX_ENUM_VALUES:
                    errors.append(f"{name}.{f.name}: an enum needs 2 to {MAX_ENUM_VALUES} values")
    _fail(errors)
    return dm


def _type_ok(value: Any, kind: str) -> bool:
    if kind != "boolean" and isinstance(value, bool):
        return False
    return isinstance(value, PY_TYPES[kind])


def check_database(db: Any, schema: SchemaOut, dm: DataModelOut, min_records: int) -> Domain:
    """Types, enums, keys and referential integrity; then the env's own view must agree.

    Returns the :class:`Domain` (inferred schema included) the env will serve.
    """
    errors: list[str] = []
    if not isinstance(db, dict):
        raise ValueError("the database must be an object {table: {key: record}}")
    tables = {t.name: t for t in schema.tables}
    for name in tables.keys() - db.keys():
        errors.append(f"table {name!r} is missing")
    for name in db.keys() - tables.keys():
        errors.append(f"table {name!r} is not in the data model")
    for name, rows in db.items():
        if name not in tables:
            continue
        if not isinstance(rows, dict) or len(rows) < min_records:
            errors.append(f"{name}: needs an object of at least {min_records} records keyed by {tables[name].key}")
            continue
        fields = {f.name: f for f in dm.tables[name].fields}
        for key, rec in rows.items():
            where = f"{name}[{key!r}]"
            if not isinstance(rec, dict):
                errors.append(f"{where} is not an object")
                continue
            if rec.get(tables[name].key) != key:
                errors.append(f"{where}.{tables[name].key} must equal its key {key!r}")
            for extra in rec.keys() - fields.keys():
                errors.append(f"{where} has field {extra!r}, which the data model does not declare")
            for f in fields.values():
                value = rec.get(f.name)
                if value is None:
                    if not f.nullable:
                        errors.append(f"{where}.{f.name} is missing or null")
                    continue
                if not _type_ok(value, f.type):
                    errors.append(f"{where}.{f.name} = {value!r} is not a {f.type}")
                elif f.enum is not None and value not in f.enum:
                    errors.append(f"{where}.{f.name} = {value!r} is not one of {f.enum}")
                elif f.ref is not None and value not in (db.get(f.ref) or {}):
                    errors.append(f"{where}.{f.name} = {value!r} names no record of {f.ref} (referential integrity)")
    _fail(errors)
    domain = domain_from_data(schema.domain, db, "", dm.model_dump())
    _check_inferred(domain, schema, dm, errors)
    _fail(errors)
    return domain


def _check_inferred(domain: Domain, schema: SchemaOut, dm: DataModelOut, errors: list[str]) -> None:
    """The env infers keys and references from the data; they must be the declared ones."""
    inferred = domain.schema.collections
    for t in schema.tables:
        c = inferred.get(t.name)
        if c is None or c.parent is not None or c.key != t.key:
            errors.append(f"{t.name}: the data does not read as a table keyed by {t.key}")
            continue
        for f in dm.tables[t.name].fields:
            got = c.fields.get(f.name)
            if f.ref is not None and (got is None or got.ref != f.ref):
                errors.append(f"{t.name}.{f.name}: use at least 2 different {f.ref} ids so the "
                              "reference can be recognised")
    try:
        tools = derive_tools(domain.schema)
    except ValueError as exc:
        errors.append(str(exc))
        return
    db = domain.new_db()
    for tool in tools.values():
        if not isinstance(tool, CollectionTool) or tool.c.parent is not None:
            continue
        key = next(iter(db.db[tool.c.name]))
        args = {tool.c.key: key} if tool.name.startswith("get_") else {}
        if tool.name.startswith(("get_", "find_")):
            try:
                tool.run(db, tool.validate(args))
            except Exception as exc:  # noqa: BLE001 - any failure means the env cannot serve it
                errors.append(f"derived tool {tool.name} fails on the data: {exc}")


def check_tools(out: ToolsOut, domain: Domain) -> ToolsOut:
    """The chosen tools and every tool the policy names are derived (hence executable)."""
    derived = derive_tools(domain.schema)
    errors = [f"tool {name!r} is not derived from the data model" for name in out.tools if name not in derived]
    for name in sorted(set(TOOL_NAME_RE.findall(out.policy)) - derived.keys()):
        errors.append(f"the policy names {name!r}, which is not a tool; known: {', '.join(sorted(derived))}")
    _fail(errors)
    return out
