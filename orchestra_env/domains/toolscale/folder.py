"""A ToolScale domain as a folder on disk: what synthesis writes and ``domain_path=`` loads.

    <folder>/db.json          tables: {table: {key: record}} (the shipped format)
    <folder>/policy.md        the policy the agent is shown
    <folder>/schema.json      the data model (tables, keys, fields, enums, references)
    <folder>/tasks.json       tasks with gold actions (the generator's metadata format)
    <folder>/provenance.json  who made it: model, prompt hashes, seed (synthesis only)

Only ``db.json`` and ``policy.md`` are required; the schema's enums are passed to schema
inference as the shipped domains' :mod:`.overrides` are, so values no record uses yet (a
"cancelled" status) still validate.
"""
from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from orchestra_env.domains.toolscale.db import Domain
from orchestra_env.domains.toolscale.schema import DomainSchema, infer_schema
from orchestra_env.tasks import Task

REQUIRED_FILES = ("db.json", "policy.md")


def data_model_enums(data_model: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """``{"table.field": values}`` of a ``schema.json`` data model (the overrides' format)."""
    out: dict[str, tuple[str, ...]] = {}
    for table, spec in (data_model.get("tables") or {}).items():
        for f in spec.get("fields", []):
            if f.get("enum"):
                out[f"{table}.{f['name']}"] = tuple(str(v) for v in f["enum"])
    return out


def domain_from_data(name: str, tables: Mapping[str, Any], policy: str,
                     data_model: Mapping[str, Any] | None = None) -> Domain:
    """A :class:`Domain` from in-memory parts (the same path a folder is loaded by).

    Keys and references are inferred from the data as for the shipped domains; where a data
    model is given, its declared types, enums and nullability win over what a few records
    suggest (prices written as ``9`` stay numbers, a free-text field repeated by chance does
    not become an enum).
    """
    schema = infer_schema(name, tables, data_model_enums(data_model or {}))
    if data_model:
        schema = _declared(schema, data_model)
    return Domain(name, dict(tables), schema, policy)


JSON_TYPES = {"string": ("string",), "integer": ("integer",), "number": ("number",), "boolean": ("boolean",)}


def _declared(schema: DomainSchema, data_model: Mapping[str, Any]) -> DomainSchema:
    collections = dict(schema.collections)
    for table, spec in (data_model.get("tables") or {}).items():
        c = collections.get(table)
        if c is None:
            continue
        declared = {f["name"]: f for f in spec.get("fields", [])}
        fields = {}
        for path, f in c.fields.items():
            d = declared.get(path)
            if d is not None and d.get("type") in JSON_TYPES:
                enum = tuple(sorted(str(v) for v in d["enum"])) if d.get("enum") and not f.ref else None
                f = replace(f, types=JSON_TYPES[d["type"]], enum=enum, nullable=bool(d.get("nullable")))
            fields[path] = f
        collections[table] = replace(c, fields=fields)
    return DomainSchema(schema.domain, collections)


def load_domain_folder(path: str | Path) -> Domain:
    """The domain in ``path`` (parsed once per process and folder contents)."""
    folder = Path(path).expanduser().resolve()
    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} is not a ToolScale domain folder: missing {', '.join(missing)} "
            "(write one with orchestra_env.domains.toolscale.synthesis.synthesize)")
    stamp = tuple((folder / f).stat().st_mtime_ns for f in ("db.json", "policy.md", "schema.json")
                  if (folder / f).is_file())
    return _load(str(folder), stamp)


@lru_cache(maxsize=32)
def _load(folder: str, stamp: tuple[int, ...]) -> Domain:
    root = Path(folder)
    tables = json.loads((root / "db.json").read_text(encoding="utf-8"))
    policy = (root / "policy.md").read_text(encoding="utf-8")
    model_file = root / "schema.json"
    data_model = json.loads(model_file.read_text(encoding="utf-8")) if model_file.is_file() else {}
    name = str(data_model.get("domain") or root.name)
    return domain_from_data(name, tables, policy, data_model)


def task_from_record(domain: str, record: Mapping[str, Any]) -> Task:
    """A task of ``tasks.json`` as the env's :class:`Task` (gold calls in ``metadata``)."""
    required = [str(x) for x in record.get("required", [])]
    return Task(
        task_id=str(record["task_id"]),
        benchmark="toolscale",
        question=str(record["instruction"]),
        answer=" | ".join(required),
        categories=(domain, str(record.get("intent", "synthesized"))),
        metadata={"domain": domain, "intent": record.get("intent", "synthesized"),
                  "actions": [dict(a) for a in record["actions"]], "required": required,
                  "anchor": list(record.get("anchor", [])), "writes": bool(record.get("writes")),
                  "difficulty": record.get("difficulty", "base")},
    )


def read_tasks(path: str | Path) -> list[Task]:
    """Tasks of a domain folder; a clear error when it has none."""
    folder = Path(path).expanduser().resolve()
    file = folder / "tasks.json"
    if not file.is_file():
        raise FileNotFoundError(f"{file} not found: a domain folder needs tasks.json, or pass tasks=...")
    data = json.loads(file.read_text(encoding="utf-8"))
    domain = str(data.get("domain") or folder.name)
    tasks = [task_from_record(domain, r) for r in data.get("tasks", [])]
    if not tasks:
        raise ValueError(f"{file} has no tasks (the synthesis filter kept none; see report.json)")
    return tasks


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


def write_domain_folder(folder: str | Path, *, domain: str, tables: Mapping[str, Any], policy: str,
                        data_model: Mapping[str, Any], tasks: Iterable[Mapping[str, Any]],
                        extra: Mapping[str, Any] | None = None) -> Path:
    """Write the folder (``extra``: more JSON files by name, e.g. provenance, report)."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / "db.json", tables)
    (root / "policy.md").write_text(policy.rstrip() + "\n", encoding="utf-8")
    write_json(root / "schema.json", {"domain": domain, **data_model})
    write_json(root / "tasks.json", {"domain": domain, "tasks": list(tasks)})
    for name, value in (extra or {}).items():
        write_json(root / name, value)
    return root
