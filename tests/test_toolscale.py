"""ToolScale: schema inference, derived tools, the task generator, the env and the official loader."""
from __future__ import annotations

import json

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import orchestra_env
from orchestra_env.domains.conversation import mentions, message_or_call
from orchestra_env.domains.toolscale.coverage import COVERAGE, covering
from orchestra_env.domains.toolscale.db import DOMAINS, load_domain
from orchestra_env.domains.toolscale.generator import TaskGenerator
from orchestra_env.domains.toolscale.official import load_official
from orchestra_env.domains.toolscale.tools import derive_tools
from orchestra_env.envs.toolscale import ToolScaleEnv
from orchestra_env.tools.base import ToolArgumentError

FAST_SAMPLE = 20
FULL_SAMPLE = 200


def make(domain: str, **kwargs) -> ToolScaleEnv:
    return ToolScaleEnv(domain, num_tasks=kwargs.pop("num_tasks", FULL_SAMPLE), **kwargs)


def call(env: ToolScaleEnv, name: str, **arguments):
    return env.step({"tool": name, "arguments": arguments})


# ---------------------------------------------------------------------- schema
def test_schema_infers_nested_keys_enums_foreign_keys_and_overrides():
    bank = load_domain("bank").schema
    accounts = bank.collections["accounts"]
    assert (accounts.parent, accounts.key, accounts.storage) == ("clients", "account_id", "dict")
    assert bank.collections["transactions"].fields["account_id"].ref == "accounts"
    assert bank.collections["cards"].fields["status"].enum == ("active", "blocked", "expired")
    assert "closed" in accounts.fields["status"].enum  # from overrides, unseen in the data
    assert bank.collections["accounts"].fields["balance.current"].is_numeric
    travel = load_domain("travel").schema
    assert travel.collections["bookings"].storage == "list"  # list of records with booking_id
    assert load_domain("movie").schema.collections["bookings"].cancel_value() == "canceled"
    assert load_domain("railway").schema.collections["trains"].fields["dates"].types == ("object",)


def test_coverage_map_names_only_tools_the_domain_derives():
    for domain in DOMAINS:
        names = set(derive_tools(load_domain(domain).schema)) | {"call_expert"}
        for original, derived in COVERAGE[domain].items():
            assert set(derived) <= names, (domain, original, derived)
        assert covering(domain, "transfer_to_human_agents") == ("call_expert",)


# ---------------------------------------------------------------------- tools
def test_tools_validate_types_enums_and_report_domain_errors():
    env = make("bank", num_tasks=5)
    env.reset(seed=0)
    update = env.tools["update_card"]
    with pytest.raises(ToolArgumentError, match="status"):
        update.validate({"card_id": "x", "changes": {"status": "melted"}})
    with pytest.raises(ToolArgumentError, match="nonsense"):
        update.validate({"card_id": "x", "changes": {"nonsense": 1}})
    _, _, _, _, info = call(env, "get_card", card_id="NOPE")
    assert info["error"] and "No card" in info["error"]
    _, _, _, _, info = call(env, "update_card", card_id="R6NH2OO-CD3", changes={"linked_account_id": "NOPE"})
    assert info["error"] and "not an existing account" in info["error"]
    obs, _, _, _, info = call(env, "find_accounts", client_id="W5RQ5VR-C3", sort_by="balance.current", limit=5)
    found = json.loads(obs["output"])
    values = [r["balance.current"] for r in found["results"]]
    assert found["total"] >= 1 and values == sorted(values)


def test_create_ids_depend_only_on_state_and_delete_removes():
    outputs = []
    for _ in range(2):
        env = make("medicine", num_tasks=5)
        env.reset(seed=0)
        obs, *_ = call(env, "create_payment_method", patient_id="ZTSS2LV",
                       values={"source": "hsa_card", "extra_info.last_four": "9999"})
        outputs.append(json.loads(obs["output"])["created"])
    assert outputs[0] == outputs[1]
    _, _, _, _, info = call(env, "delete_payment_method", payment_method_id=outputs[1])
    assert info["error"] is None
    _, _, _, _, info = call(env, "get_payment_method", payment_method_id=outputs[1])
    assert info["error"] is not None


def test_episodes_and_vectorised_envs_do_not_share_database_state():
    pristine = load_domain("railway").tables["reservations"]["cz201"]
    status = pristine["status"]
    a, b = make("railway", num_tasks=5), make("railway", num_tasks=5)
    a.reset(seed=0)
    b.reset(seed=0)
    call(a, "update_reservation", reservation_id="cz201", changes={"total_bags": 9})
    obs, *_ = call(b, "get_reservation", reservation_id="cz201")
    assert json.loads(obs["output"])["total_bags"] == pristine["total_bags"] != 9
    assert load_domain("railway").tables["reservations"]["cz201"]["status"] == status
    a.reset(seed=1)
    obs, *_ = call(a, "get_reservation", reservation_id="cz201")
    assert json.loads(obs["output"])["total_bags"] != 9  # a new episode starts from the pristine DB

    vec = gym.vector.SyncVectorEnv([lambda: make("railway", num_tasks=5)] * 2)
    vec.reset(seed=0)
    envs = [e.unwrapped for e in vec.envs]
    assert envs[0].episode.world.db.db["reservations"] is not envs[1].episode.world.db.db["reservations"]
    vec.close()


# ---------------------------------------------------------------------- generator
def test_generator_is_deterministic_and_unbounded():
    def first(n: int, seed: int):
        gen = TaskGenerator(load_domain("school"), seed=seed)
        stream = gen.tasks("train")
        return [next(stream) for _ in range(n)]

    a, b = first(25, 0), first(25, 0)
    assert [(t.task_id, t.question, t.metadata["actions"]) for t in a] == \
        [(t.task_id, t.question, t.metadata["actions"]) for t in b]
    other = first(25, 1)
    assert [t.question for t in other] != [t.question for t in a]
    assert len({t.metadata["intent"] for t in a}) >= 3


def test_splits_use_disjoint_anchor_records():
    gen = TaskGenerator(load_domain("ecommerce"))
    train, test = gen.tasks("train"), gen.tasks("test")
    train_anchors = {tuple(next(train).metadata["anchor"]) for _ in range(100)}
    test_tasks = [next(test) for _ in range(60)]
    test_anchors = {tuple(t.metadata["anchor"]) for t in test_tasks}
    assert train_anchors.isdisjoint(test_anchors)
    assert all(gen.anchor_split(*a) == "test" for a in test_anchors)
    assert all("/test/" in t.task_id for t in test_tasks)


def test_generated_tasks_are_non_trivial():
    stream = TaskGenerator(load_domain("weather")).tasks("train")
    for task in (next(stream) for _ in range(50)):
        reads = [a for a in task.metadata["actions"] if a["name"].startswith(("get_", "find_"))]
        assert task.metadata["writes"] or (len(reads) >= 2 and task.metadata["required"])


# ---------------------------------------------------------------------- env
def _gold_episode(env: ToolScaleEnv, index: int) -> tuple[float, dict]:
    env.reset(seed=index, options={"task_index": index})
    task = env.episode.task
    for action in task.metadata["actions"]:
        *_, info = env.step({"tool": action["name"], "arguments": action["arguments"]})
        assert info["error"] is None, (task.task_id, action, info["error"])
    message = "Done. " + "; ".join(task.metadata["required"]) + ". Goodbye!"
    _, reward, terminated, _, info = env.step(message)
    assert terminated
    return reward, info


def _idle_episode(env: ToolScaleEnv, index: int) -> tuple[float, dict]:
    env.reset(seed=index, options={"task_index": index})
    _, reward, terminated, _, info = env.step("Goodbye!")
    assert terminated
    return reward, info


def _replay_all(domain: str, n: int) -> None:
    env = make(domain, num_tasks=n)
    for i in range(n):
        reward, info = _gold_episode(env, i)
        assert reward == 1.0, (env.episode.task.task_id, info["reward_breakdown"], info["db_diff"])
        reward, info = _idle_episode(env, i)
        assert reward == 0.0
        if env.episode.task.metadata["writes"]:
            assert info["reward_breakdown"]["db"] == 0.0 and info["db_diff"]


@pytest.mark.parametrize("domain", DOMAINS)
def test_gold_replay_scores_one_and_doing_nothing_scores_zero(domain):
    _replay_all(domain, FAST_SAMPLE)


@pytest.mark.slow
@pytest.mark.parametrize("domain", DOMAINS)
def test_gold_replay_full_sample(domain):
    _replay_all(domain, FULL_SAMPLE)


def test_wrong_answer_or_wrong_write_scores_zero():
    env = make("weather", num_tasks=40)
    index = next(i for i in range(40) if env.tasks[i].metadata["required"])
    env.reset(options={"task_index": index})
    for action in env.episode.task.metadata["actions"]:
        env.step({"tool": action["name"], "arguments": action["arguments"]})
    _, reward, _, _, info = env.step("I could not find it, sorry. Goodbye!")
    assert reward == 0.0 and info["reward_breakdown"] == {"db": 1.0, "communicate": 0.0}

    env = make("railway", num_tasks=40)
    index = next(i for i in range(40) if env.tasks[i].metadata["writes"])
    env.reset(options={"task_index": index})
    for action in env.episode.task.metadata["actions"]:
        env.step({"tool": action["name"], "arguments": action["arguments"]})
    call(env, "update_reservation", reservation_id="cz201", changes={"bikes": 7})
    _, reward, _, _, info = env.step("All done. Goodbye!")
    assert reward == 0.0 and any("cz201" in d for d in info["db_diff"])


@pytest.mark.parametrize("env_id", [f"Orchestra/ToolScale-{d}-v0" for d in orchestra_env.TOOLSCALE_DOMAINS])
def test_check_env(env_id):
    env = gym.make(env_id, num_tasks=10)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    for _ in range(5):
        obs, *_ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
    env.close()


def test_plain_text_is_a_message_and_tool_calls_still_parse():
    call_ = message_or_call("<think>hmm</think> Could you confirm your email?")
    assert call_.tool == "respond" and call_.arguments == {"content": "Could you confirm your email?"}
    assert message_or_call('{"tool": "get_user", "arguments": {"user_id": "x"}}').tool == "get_user"
    assert not hasattr(message_or_call('{"tool": '), "tool")  # broken JSON stays a format error


def test_mentions_accepts_number_formats_only_for_the_same_value():
    assert mentions("Your balance is 1,250.50 EUR", "1250.5")
    assert not mentions("Your balance is 1,251.50 EUR", "1250.5")
    assert mentions("the brand is VISA", "Visa")


# ---------------------------------------------------------------------- official loader
def _official_row(task_id: str, domain: str, actions: list[dict], info: list[str]) -> dict:
    null_slots = {"club_id": None, "email": None, "expression": None, "location_id": None}
    return {
        "id": task_id,
        "description": {"purpose": "", "relevant_policies": None, "notes": None},
        "user_scenario": {"persona": None, "instructions": {
            "task_instructions": "Tell me the timezone.", "reason_for_call": "Planning a trip.",
            "known_info": "Location 65.", "unknown_info": None, "domain": domain}},
        "initial_state": None,
        "evaluation_criteria": {
            "actions": [{"action_id": f"{task_id}_{i}", "name": a["name"], "arguments": {**null_slots, **a["arguments"]}}
                        for i, a in enumerate(actions)],
            "communicate_info": info},
    }


def test_official_loader_reports_uncovered_calls_and_grades_read_only_tasks(tmp_path):
    rows = [
        _official_row("1", "weather", [{"name": "get_location_details", "arguments": {"location_id": "65"}}],
                      ["America/New_York"]),
        _official_row("2", "weather", [{"name": "launch_rocket", "arguments": {"expression": "1"}}], []),
        _official_row("3", "bank", [{"name": "initiate_internal_transfer", "arguments": {"email": "a@b"}}], []),
    ]
    path = tmp_path / "toolscale.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    load = load_official(path)
    assert len(load.tasks_all) == 3 and [t.task_id for t in load.tasks] == ["toolscale-official/weather/1"]
    assert load.uncovered == {("weather", "launch_rocket"): 1}
    assert load.composite == {("bank", "initiate_internal_transfer"): 1}
    assert load.tasks_all[0].metadata["official_actions"][0]["arguments"] == {"location_id": "65"}
    assert "uncovered: weather/launch_rocket" in load.report()

    env = ToolScaleEnv("weather", tasks=load_official(path, domain="weather").tasks)
    env.reset(seed=0)
    _, reward, *_ = env.step("It is America/New_York. Goodbye!")
    assert reward == 1.0
