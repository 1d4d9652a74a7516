"""ToolScale synthesis end to end, offline: a scripted loopback chat-completions server
(tests/fault_server.py) answers each stage with outputs written by hand
(tests/fixtures/synthesis/movie_booking.json, malformed ones included), through the real
OpenAICompatExpert; the synthesized folder is then served by the real env."""
from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import orchestra_env  # noqa: F401 - registers the ids
from fault_server import Fault, FaultServer
from orchestra_env.domains.toolscale.synthesis import synthesize
from orchestra_env.domains.toolscale.synthesis.prompts import prompt_hashes
from orchestra_env.experts import OpenAICompatExpert

CANNED = json.loads((Path(__file__).parent / "fixtures" / "synthesis" / "movie_booking.json").read_text())
HAPPY = ["schema_bad", "schema", "data_model", "database_bad", "database", "tools", "intents", "constraints"]
# the reason each candidate of the canned "intents" / "constraints" answers must get (None: kept)
EXPECTED = {
    "0": None, "1": None, "2": None, "3": "gold_error", "4": "unknown_tool", "5": "do_nothing_solves",
    "6": "single_call_solves", "7": "not_grounded", "8": "no_op_step", "9": "answer_not_in_outputs",
    "10": "duplicate", "11": "bad_arguments",
    "evolved-0": None, "evolved-1": None, "evolved-2": "not_harder", "evolved-3": "unknown_source",
}


def _script(names: list[str]) -> list[Fault]:
    texts = [CANNED[n] if isinstance(CANNED[n], str) else json.dumps(CANNED[n]) for n in names]
    return [Fault("ok", text=t, prompt_tokens=100, completion_tokens=50) for t in texts]


def _run(names: list[str], folder: Path, **kwargs):
    with FaultServer(_script(names)) as server:
        expert = OpenAICompatExpert(server.base_url, api_key_env=None, max_retries=0, deadline_s=30)
        try:
            report = synthesize("movie ticket booking", expert, "scripted-llm", folder, seed=7, **kwargs)
        finally:
            expert.close()
        return report, server.seen


@pytest.fixture(scope="module")
def happy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth") / "movie_booking"
    report, seen = _run(HAPPY, folder)
    return report, seen, folder


def test_bad_stage_outputs_are_repaired_with_the_error_fed_back(happy):
    report, seen, _ = happy
    assert report.ok and report.rejected is None
    assert len(seen) == len(HAPPY)  # one request per canned answer, none left over
    attempts = {s.stage: s.attempts for s in report.stages}
    assert attempts == {"schema": 2, "data_model": 1, "database": 2, "tools": 1, "intents": 1, "constraints": 1}
    db_stage = next(s for s in report.stages if s.stage == "database")
    assert "referential integrity" in db_stage.errors[0] and "C999" in db_stage.errors[0]
    # the repair request repeats the conversation: the bad answer, then the validation error
    repair = seen[4].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": json.dumps(CANNED["database_bad"])}
    assert "C999" in repair[-1]["content"] and "failed validation" in repair[-1]["content"]
    assert all(s.body["model"] == "scripted-llm" for s in seen)
    # each stage's prompt carries its output's JSON schema
    assert '"tables"' in seen[0].body["messages"][0]["content"]


def test_filter_counts_each_rejection_reason(happy):
    report, _, folder = happy
    decisions = {d["task_id"].rsplit("/", 1)[-1]: d.get("reason") for d in report.filter.decisions}
    assert decisions == EXPECTED
    written = json.loads((folder / "report.json").read_text())["filter"]
    assert written["kept"] == 5 and written["candidates"] == 16
    assert written["rejected"] == {r: 1 for r in EXPECTED.values() if r}


def test_domain_folder_has_the_shipped_format_and_provenance(happy):
    report, seen, folder = happy
    for name in ("db.json", "policy.md", "schema.json", "tasks.json", "provenance.json", "report.json"):
        assert (folder / name).is_file(), name
    db = json.loads((folder / "db.json").read_text())
    assert db == CANNED["database"]
    provenance = json.loads((folder / "provenance.json").read_text())
    assert provenance["model"] == "scripted-llm" and provenance["seed"] == 7
    assert provenance["prompts"] == prompt_hashes()
    assert "127.0.0.1" in provenance["backend"]
    schema = json.loads((folder / "schema.json").read_text())
    assert schema["tables"]["bookings"]["references"] == [
        {"field": "customer_id", "table": "customers"}, {"field": "showtime_id", "table": "showtimes"}]
    assert "bookings (key booking_id, 5 records)" in report.schema_summary
    assert "customer_id: string -> customers" in report.schema_summary


def _episode(env, index: int, actions: list[dict], message: str) -> tuple[float, dict]:
    env.reset(seed=index, options={"task_index": index})
    for action in actions:
        *_, info = env.step({"tool": action["name"], "arguments": action["arguments"]})
        assert info["error"] is None, (action, info["error"])
    _, reward, terminated, _, info = env.step(message)
    assert terminated
    return reward, info


def test_synthesized_domain_loads_as_env_gold_scores_one_idle_zero(happy):
    report, _, folder = happy
    env = gym.make("Orchestra/ToolScale-v0", domain_path=str(folder))
    tasks = env.unwrapped.tasks
    assert [t.task_id for t in tasks] == [t["task_id"] for t in report.tasks] and len(tasks) == 5
    obs, _ = env.reset(seed=0)
    assert "cancel_booking" in obs["tools"] and "find_showtimes" in obs["tools"]
    assert "Movie booking agent policy" in obs["task"]
    assert {t.metadata["difficulty"] for t in tasks} == {"base", "evolved"}
    for i, task in enumerate(tasks):
        told = "Done. " + "; ".join(task.metadata["required"]) + ". Goodbye!"
        reward, info = _episode(env, i, task.metadata["actions"], told)
        assert reward == 1.0, (task.task_id, info["reward_breakdown"], info["db_diff"])
        reward, info = _episode(env, i, [], "Goodbye!")
        assert reward == 0.0, task.task_id
        if task.metadata["writes"]:
            assert info["reward_breakdown"]["db"] == 0.0 and info["db_diff"]
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_malformed_data_model_twice_rejects_that_stage(tmp_path):
    report, _ = _run(["schema", "data_model_bad", "data_model_bad"], tmp_path / "d")
    assert not report.ok and report.rejected["stage"] == "data_model"
    # the path and the value the output's JSON schema does not allow
    assert "tables.showtimes.fields.0.type" in report.rejected["reason"] and "'text'" in report.rejected["reason"]
    assert not (tmp_path / "d" / "db.json").exists()
    written = json.loads((tmp_path / "d" / "report.json").read_text())
    assert written["rejected"] == report.rejected and written["ok"] is False


def test_policy_naming_a_tool_that_is_not_derived_rejects_the_tools_stage(tmp_path):
    report, seen = _run(["schema", "data_model", "database", "tools_bad", "tools_bad"], tmp_path / "d")
    assert report.rejected["stage"] == "tools" and "refund_booking" in report.rejected["reason"]
    assert len(seen) == 5


def test_rejected_constraint_stage_keeps_the_base_tasks(tmp_path):
    report, _ = _run(["schema", "data_model", "database", "tools", "intents", "schema_bad", "schema_bad"],
                     tmp_path / "d")
    assert report.ok and len(report.tasks) == 3
    assert report.warnings and report.warnings[0]["stage"] == "constraints"
    assert {t["difficulty"] for t in report.tasks} == {"base"}


def test_same_answers_give_the_same_domain(happy, tmp_path):
    _, _, folder = happy
    _run(HAPPY, tmp_path / "again")
    for name in ("db.json", "tasks.json", "schema.json", "policy.md"):
        assert (tmp_path / "again" / name).read_text() == (folder / name).read_text(), name
    first, second = (json.loads((f / "provenance.json").read_text()) for f in (folder, tmp_path / "again"))
    first.pop("backend"), second.pop("backend")  # the loopback port differs
    assert first == second


def test_domain_path_without_a_domain_fails_at_make_naming_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="db.json, policy.md"):
        gym.make("Orchestra/ToolScale-v0", domain_path=str(tmp_path))


def test_command_writes_one_folder_per_subject(tmp_path):
    from orchestra_env.domains.toolscale.synthesis.command import main

    with FaultServer(_script(HAPPY)) as server:
        code = main(["--subject", "movie ticket booking", "--model", "scripted-llm", "--base-url", server.base_url,
                     "--api-key-env", "NO_SUCH_KEY_VAR", "--out", str(tmp_path), "--deadline-s", "30"])
    assert code == 0
    tasks = json.loads((tmp_path / "movie_ticket_booking" / "tasks.json").read_text())["tasks"]
    assert len(tasks) == 5
    with pytest.raises(SystemExit):
        main(["--subject", "x", "--model", "m", "--out", str(tmp_path)])  # no backend: fails early


def test_simulated_pool_is_refused_with_the_fix(tmp_path):
    from orchestra_env.experts import ExpertPool

    with pytest.raises(ValueError, match="simulated pool"):
        synthesize("movie ticket booking", ExpertPool.from_config(None), "gpt-5", tmp_path)


def test_declared_types_and_enums_win_over_what_few_records_suggest():
    from orchestra_env.domains.toolscale.folder import domain_from_data
    from orchestra_env.domains.toolscale.schema import infer_schema

    rows = {f"S{i}": {"show_id": f"S{i}", "theater": ["Grand", "Riverside"][i % 2], "price": 8 + i}
            for i in range(6)}
    model = {"tables": {"shows": {"fields": [{"name": "show_id", "type": "string"},
                                              {"name": "theater", "type": "string"},
                                              {"name": "price", "type": "number"}]}}}
    inferred = infer_schema("x", {"shows": rows}).collections["shows"].fields
    assert inferred["theater"].enum == ("Grand", "Riverside") and inferred["price"].types == ("integer",)
    fields = domain_from_data("x", {"shows": rows}, "", model).schema.collections["shows"].fields
    assert fields["theater"].enum is None and fields["price"].types == ("number",)
