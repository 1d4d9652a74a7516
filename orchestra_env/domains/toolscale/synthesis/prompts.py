"""The stage prompts of ToolScale synthesis, as plain templates with stable hashes.

Each stage sends one system message (what the stage is, the JSON schema its answer must
fit) and one user message (the subject and what earlier stages produced). Templates use
``str.format`` fields only; their sha256 goes into the domain's provenance record, so a
changed prompt is visible in every folder it produced.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

COMMON = (
    "You are building a simulated customer-service domain for training tool-using agents. "
    "Answer with one JSON object only (no prose, no code fences), fitting this JSON schema:\n"
    "{json_schema}"
)


@dataclass(frozen=True)
class Prompt:
    """A stage's system and user templates."""

    stage: str
    system: str
    user: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(f"{COMMON}\x1f{self.system}\x1f{self.user}".encode("utf-8")).hexdigest()

    def messages(self, json_schema: dict[str, Any], **fields: Any) -> tuple[dict[str, str], ...]:
        system = COMMON.format(json_schema=json.dumps(json_schema, separators=(",", ":"))) + "\n\n" + self.system
        return ({"role": "system", "content": system}, {"role": "user", "content": self.user.format(**fields)})


REPAIR = ("Your answer failed validation:\n{error}\n"
          "Return the whole corrected JSON object, and nothing else.")

SCHEMA = Prompt(
    "schema",
    "Stage 1 (schema): design the database's tables for the subject. One table per kind of "
    "entity a customer or agent deals with (customers, bookings, shows ...), 3 to 5 tables. "
    "Each table has a snake_case plural name, a primary key named <singular>_id, and the "
    "foreign keys that link it to other tables (field name = the other table's key).",
    "Subject: {subject}",
)

DATA_MODEL = Prompt(
    "data_model",
    "Stage 2 (data model): give every table its typed fields. Types are string, integer, "
    "number or boolean. The key and every reference of the schema must appear as string "
    "fields (reference: set \"ref\" to the table). Categorical fields list their allowed "
    "values in \"enum\"; a lifecycle field is named status and includes a cancelled value "
    "when records can be cancelled. The customer table has first_name, last_name and email.",
    "Subject: {subject}\nSchema:\n{schema}",
)

DATABASE = Prompt(
    "database",
    "Stage 3 (database): write the database as {{table: {{key: record}}}}. Every record has "
    "every field of its table, its key field equal to its dict key, values of the declared "
    "types and enums, and references that name existing records. At least {min_records} "
    "records per table; each reference field uses at least 2 different targets; vary the "
    "values so that look-ups by category and by the highest/lowest number have one answer.",
    "Subject: {subject}\nData model:\n{data_model}",
)

TOOLS = Prompt(
    "tools",
    "Stage 4 (tools and policy): the agent's tools are derived from the data model and are "
    "listed below with their JSON schemas. Choose the ones this domain's agent needs and "
    "write the agent policy in Markdown: what the agent may do, what it must check first "
    "(e.g. identify the customer by email), and what it must refuse. Name tools only from "
    "the list.",
    "Subject: {subject}\nTools:\n{tools}",
)

INTENTS = Prompt(
    "intents",
    "Stage 5 (intents to tasks): write {n_tasks} distinct customer requests over real records "
    "of the database below. Each task has the user's first-person instruction (giving every "
    "id, email or value the agent needs that the tools cannot find), the gold tool calls an "
    "ideal agent makes in order (name + arguments, exactly as the tool schemas ask), and the "
    "facts the agent must tell the user (\"required\", copied from tool outputs; empty for pure "
    "write tasks). Use two or more calls per task: identify the customer, then act.",
    "Subject: {subject}\nPolicy:\n{policy}\nTools:\n{tools}\nDatabase:\n{database}",
)

CONSTRAINTS = Prompt(
    "constraints",
    "Stage 6 (constraints): make each task below harder by adding one constraint or "
    "condition the agent must check or satisfy (only the cheapest one, only if the status "
    "is active, also update a second field ...). Give the evolved task in full: instruction, "
    "gold calls and required facts, with \"source\" = the index of the task it evolves. "
    "Its gold calls must still succeed on the database.",
    "Policy:\n{policy}\nTools:\n{tools}\nDatabase:\n{database}\nTasks:\n{tasks}",
)

STAGE_PROMPTS: dict[str, Prompt] = {p.stage: p for p in (SCHEMA, DATA_MODEL, DATABASE, TOOLS, INTENTS, CONSTRAINTS)}


def prompt_hashes() -> dict[str, str]:
    """sha256 of every stage template (and of the repair message), for provenance."""
    out = {name: p.sha256 for name, p in STAGE_PROMPTS.items()}
    out["repair"] = hashlib.sha256(REPAIR.encode("utf-8")).hexdigest()
    return out
