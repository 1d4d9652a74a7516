"""ToolScale synthesis end to end: subject -> schema -> data model -> database -> tools ->
tasks -> constraints -> execution filter -> a domain folder the env loads.

    from orchestra_env.experts import OpenAICompatExpert
    from orchestra_env.domains.toolscale.synthesis import synthesize

    expert = OpenAICompatExpert("http://127.0.0.1:8000/v1")          # vLLM, OpenAI, serve.py ...
    report = synthesize("movie ticket booking", expert, "Qwen3-32B", "domains/movie_booking")
    env = gym.make("Orchestra/ToolScale-v0", domain_path="domains/movie_booking")

Any :class:`~orchestra_env.experts.base.Expert` drives it (an ``ExpertPool`` routes the model
name to its backend). The first four stages are fatal when rejected (there is no domain
without them); a rejected constraint stage keeps the base tasks. ``report.json`` is written
in every case, the rest of the folder only when at least one task survives the filter.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestra_env import __version__
from orchestra_env.domains.toolscale.db import Domain
from orchestra_env.domains.toolscale.folder import write_domain_folder, write_json
from orchestra_env.domains.toolscale.synthesis.filter import ExecutionFilter, FilterLog
from orchestra_env.domains.toolscale.synthesis.prompts import (
    CONSTRAINTS, DATA_MODEL, DATABASE, INTENTS, SCHEMA, TOOLS, prompt_hashes,
)
from orchestra_env.domains.toolscale.synthesis.stages import (
    ConstraintsOut, DataModelOut, IntentsOut, SchemaOut, Stage, StageRecord, StageRejected, StageRunner,
    TaskOut, ToolsOut, database_schema,
)
from orchestra_env.domains.toolscale.synthesis.validation import (
    check_data_model, check_database, check_schema, check_tools,
)
from orchestra_env.domains.toolscale.tools import derive_tools
from orchestra_env.experts.base import Expert

MAX_RECORDS_SHOWN = 40  # per table, in the task-writing prompts


@dataclass
class SynthesisReport:
    """What a run produced: per-stage attempts, the rejected stage if any, filter counts."""

    subject: str
    model: str
    seed: int
    folder: Path
    domain: str | None = None
    stages: list[StageRecord] = field(default_factory=list)
    rejected: dict[str, str] | None = None  # {"stage", "reason"} of the stage that stopped the run
    warnings: list[dict[str, str]] = field(default_factory=list)  # non-fatal stage rejections
    filter: FilterLog = field(default_factory=FilterLog)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    schema_summary: str = ""

    @property
    def ok(self) -> bool:
        return self.rejected is None and bool(self.tasks)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "subject": self.subject, "model": self.model, "seed": self.seed,
                "domain": self.domain, "rejected": self.rejected, "warnings": self.warnings,
                "stages": [s.as_dict() for s in self.stages], "filter": self.filter.as_dict(),
                "schema_summary": self.schema_summary}


def _dump(value: Any) -> str:
    if hasattr(value, "model_dump"):
        value = value.model_dump(exclude_defaults=True)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def tools_text(domain: Domain) -> str:
    """The derived tools as the task-writing stages see them: name, description, arguments."""
    lines = []
    for tool in derive_tools(domain.schema).values():
        fn = tool.schema()["function"]
        lines.append(f"- {fn['name']}: {fn['description']} Arguments: {_dump(fn['parameters'])}")
    return "\n".join(lines)


def database_text(domain: Domain) -> str:
    shown = {t: dict(list(rows.items())[:MAX_RECORDS_SHOWN]) for t, rows in domain.tables.items()}
    return _dump(shown)


def data_model_record(schema: SchemaOut, dm: DataModelOut) -> dict[str, Any]:
    """``schema.json``: the schema stage's tables with the data model's fields."""
    return {"description": schema.description, "tables": {
        t.name: {"key": t.key, "description": t.description,
                 "references": [r.model_dump() for r in t.references],
                 "fields": [f.model_dump(exclude_defaults=True) for f in dm.tables[t.name].fields]}
        for t in schema.tables}}


def synthesize(subject: str, expert: Expert, model: str, out_dir: str | Path, *, seed: int = 0,
               n_tasks: int = 8, min_records: int = 4, evolve: bool = True, temperature: float = 0.0,
               max_tokens: int = 8192) -> SynthesisReport:
    """Synthesize one domain about ``subject`` with ``model`` on ``expert`` into ``out_dir``."""
    if not subject.strip():
        raise ValueError("subject is empty: name a domain, e.g. 'movie ticket booking'")
    if n_tasks < 1 or min_records < 2:
        raise ValueError(f"need n_tasks >= 1 and min_records >= 2, got {n_tasks} and {min_records}")
    _check_backend(expert, model)
    folder = Path(out_dir)
    runner = StageRunner(expert, model, seed=seed, temperature=temperature, max_tokens=max_tokens)
    report = SynthesisReport(subject, model, seed, folder, stages=runner.records)
    try:
        schema = runner.run(Stage(SCHEMA, SchemaOut.model_json_schema(),
                                  lambda d: check_schema(SchemaOut.model_validate(d))), subject=subject)
        report.domain = schema.domain
        dm = runner.run(Stage(DATA_MODEL, DataModelOut.model_json_schema(),
                              lambda d: check_data_model(DataModelOut.model_validate(d), schema)),
                        subject=subject, schema=_dump(schema))
        domain = runner.run(Stage(DATABASE, database_schema(),
                                  lambda d: check_database(d, schema, dm, min_records)),
                            subject=subject, data_model=_dump(dm), min_records=min_records)
        listing = tools_text(domain)
        chosen = runner.run(Stage(TOOLS, ToolsOut.model_json_schema(),
                                  lambda d: check_tools(ToolsOut.model_validate(d), domain)),
                            subject=subject, tools=listing)
        domain = Domain(domain.name, domain.tables, domain.schema, chosen.policy)
        report.schema_summary = domain.schema.describe()
        context = {"policy": chosen.policy, "tools": listing, "database": database_text(domain)}
        intents = runner.run(Stage(INTENTS, IntentsOut.model_json_schema(), IntentsOut.model_validate),
                             subject=subject, n_tasks=n_tasks, **context)
    except StageRejected as exc:
        report.rejected = {"stage": exc.stage, "reason": exc.reason}
        return _finish(report)

    screen = ExecutionFilter(domain, derive_tools(domain.schema))
    report.filter = screen.log
    base: list[TaskOut] = []
    for i, task in enumerate(intents.tasks):
        record = screen.screen(task, f"toolscale-synth/{domain.name}/{i}")
        if record is not None:
            report.tasks.append(record)
            base.append(task)
    if evolve and base:
        _evolve(runner, screen, report, base, domain.name, context)
    if not report.tasks:
        report.rejected = {"stage": "filter", "reason": "no task survived the execution filter"}
        return _finish(report)
    write_domain_folder(folder, domain=domain.name, tables=domain.tables, policy=domain.policy,
                        data_model=data_model_record(schema, dm), tasks=report.tasks,
                        extra={"provenance.json": _provenance(report, runner, expert, temperature)})
    return _finish(report)


def _check_backend(expert: Expert, model: str) -> None:
    """Fail at once, with the fix, when the model would be answered by the simulated pool
    (it plays back calibrated answers to benchmark tasks; it cannot write JSON)."""
    from orchestra_env.experts.pool import ExpertPool
    from orchestra_env.experts.simulated import SimulatedExpert

    backend = expert.backend_for(model) if isinstance(expert, ExpertPool) else expert
    if isinstance(backend, SimulatedExpert):
        raise ValueError(f"model {model!r} is served by the simulated pool, which cannot write stage outputs; "
                         "pass an OpenAICompatExpert, a TransformersExpert or an ExpertPool that routes "
                         f"{model!r} to one")


def _evolve(runner: StageRunner, screen: ExecutionFilter, report: SynthesisReport, base: list[TaskOut],
            name: str, context: dict[str, str]) -> None:
    """The constraint-adding pass over the kept base tasks (each evolved task is screened too)."""
    shown = _dump([{"index": i, **t.model_dump()} for i, t in enumerate(base)])
    try:
        evolved = runner.run(Stage(CONSTRAINTS, ConstraintsOut.model_json_schema(), ConstraintsOut.model_validate),
                             tasks=shown, **context)
    except StageRejected as exc:
        report.warnings.append({"stage": exc.stage, "reason": exc.reason})
        return
    for j, task in enumerate(evolved.tasks):
        task_id = f"toolscale-synth/{name}/evolved-{j}"
        if task.source >= len(base):
            screen.log.reject(task_id, "unknown_source", f"source {task.source} of {len(base)} tasks")
            continue
        plain = TaskOut.model_validate(task.model_dump(exclude={"source"}))
        record = screen.screen(plain, task_id, source=base[task.source])
        if record is not None:
            record["source"] = f"toolscale-synth/{name}/{task.source}"
            report.tasks.append(record)


def _provenance(report: SynthesisReport, runner: StageRunner, expert: Expert, temperature: float) -> dict[str, Any]:
    """Enough to tell two folders' origins apart: model, backend, seed, prompt and answer hashes."""
    return {
        "subject": report.subject, "model": report.model, "backend": repr(expert), "seed": report.seed,
        "temperature": temperature, "orchestra_env": __version__, "prompts": prompt_hashes(),
        "responses": {r.stage: hashlib.sha256(r.raw.encode("utf-8")).hexdigest() for r in runner.records},
    }


def _finish(report: SynthesisReport) -> SynthesisReport:
    """``report.json`` is written whatever happened (the only file when the run failed)."""
    report.folder.mkdir(parents=True, exist_ok=True)
    write_json(report.folder / "report.json", report.as_dict())
    return report
