"""tau2-bench domains (airline, mock): tools match tau2, gold solutions score 1, episodes are isolated."""
from __future__ import annotations

import json

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import orchestra_env  # noqa: F401 - registers the ids
from orchestra_env.domains.conversation import Dialogue
from orchestra_env.domains.tau2 import get_domain
from orchestra_env.domains.tau2.environment import Tau2Environment, same_db
from orchestra_env.domains.tau2.evaluation import pass_hat_k
from orchestra_env.domains.tau2.tasks import Action, Tau2Task, load_tasks
from orchestra_env.domains.tau2.user import STOP, Tau2ScriptedUser, first_person
from orchestra_env.envs.tau2 import Tau2Env
from orchestra_env.experts.base import ExpertRequest, ExpertResponse

DOMAINS = ("mock", "airline")
# tau2's own evaluator scores this mock task 0 whatever the agent does: the env assertion
# wants the user to dismiss a notification, but the gold actions (which define the target
# database, user database included) do not dismiss it. Checked against tau2 itself.
TAU2_UNSOLVABLE = {("mock", "update_task_with_user_tools")}


def _tasks(domain: str) -> list[Tau2Task]:
    d = get_domain(domain)
    return load_tasks(d.tasks_path, "all", d.split_path)


def _db_tasks(domain: str) -> list[tuple[str, str]]:
    return [(domain, t.id) for t in _tasks(domain) if "DB" in t.reward_basis]


def play(env: Tau2Env, task_id: str, actions: list, say: list[str] | None = None, bye: bool = True) -> dict:
    """Reset to a task, take the actions, say things, say goodbye; return the last info."""
    env.reset(seed=0, options={"task_id": task_id})
    steps = list(actions) + [{"tool": "respond", "arguments": {"content": s}} for s in say or []]
    if bye:
        steps.append("Thank you for contacting us. Goodbye!")
    info: dict = {}
    for action in steps:
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return info
    raise AssertionError(f"episode of {task_id} did not end")


def gold_steps(task: Tau2Task) -> tuple[list, list[str]]:
    actions = [{"tool": a.name, "arguments": a.arguments} for a in task.gold_actions if a.requestor == "assistant"]
    say = list((task.evaluation_criteria and task.evaluation_criteria.communicate_info) or [])
    return actions, [" ".join(say)] if say else []


@pytest.fixture(scope="module")
def envs() -> dict[str, Tau2Env]:
    return {d: Tau2Env(d) for d in DOMAINS}


@pytest.mark.parametrize("domain,task_id", [p for d in DOMAINS for p in _db_tasks(d)])
def test_gold_replay_scores_one(envs, domain, task_id):
    env = envs[domain]
    task = env.tau2_tasks[task_id]
    info = play(env, task_id, *gold_steps(task))
    if (domain, task_id) in TAU2_UNSOLVABLE:
        assert info["reward"] == 0.0
        return
    assert info["reward"] == 1.0, info["reward_info"]
    assert info["correct"] is True
    assert set(info["reward_breakdown"]) <= set(task.reward_basis)


def test_unsolvable_mock_task_fails_like_tau2(envs):
    # Without the user's dismissal: DB matches, the assertion fails; with it: the reverse.
    env = envs["mock"]
    info = play(env, "update_task_with_user_tools",
                [{"tool": "update_task_status", "arguments": {"task_id": "task_1", "status": "completed"}}])
    assert info["reward_breakdown"] == {"DB": 0.0, "ACTION": 1.0, "ENV_ASSERTION": 1.0}  # scripted user dismissed it
    world = env.unwrapped.episode.world.environment
    assert world.user_tools.db.notifications["notif_1"].status == "read"


@pytest.mark.parametrize("domain", DOMAINS)
def test_do_nothing_scores_zero_when_a_write_is_required(envs, domain):
    env = envs[domain]
    writes = get_domain(domain).tools_cls.write_tools()
    needing = [t for t in env.tau2_tasks.values()
               if "DB" in t.reward_basis and any(a.name in writes for a in t.gold_actions)]
    assert needing
    for task in needing:
        info = play(env, task.id, [])
        assert info["reward"] == 0.0 and info["reward_breakdown"]["DB"] == 0.0, task.id


def test_communicate_is_required_where_the_basis_says_so(envs):
    env = envs["airline"]
    task = next(t for t in env.tau2_tasks.values() if t.evaluation_criteria.communicate_info)
    actions, say = gold_steps(task)
    assert play(env, task.id, actions, say)["reward"] == 1.0
    info = play(env, task.id, actions)  # same actions, required information never said
    assert info["reward"] == 0.0 and info["reward_breakdown"]["COMMUNICATE"] == 0.0


@pytest.mark.parametrize("env_id", ["Orchestra/Tau2-mock-v0", "Orchestra/Tau2-airline-v0"])
def test_check_env(env_id):
    check_env(gym.make(env_id).unwrapped, skip_render_check=True)


def test_vector_copies_and_consecutive_episodes_do_not_share_state():
    vec = gym.make_vec("Orchestra/Tau2-mock-v0", num_envs=2, vectorization_mode="sync")
    vec.reset(seed=0, options={"task_id": "create_task_1"})
    create = json.dumps({"tool": "create_task", "arguments": {"user_id": "user_1", "title": "Only in env 0"}})
    vec.step([create, json.dumps({"tool": "get_users", "arguments": {}})])
    worlds = [e.unwrapped.episode.world.environment for e in vec.envs]
    assert "task_2" in worlds[0].tools.db.tasks
    assert "task_2" not in worlds[1].tools.db.tasks
    assert worlds[1].tools.db.users["user_1"].tasks == ["task_1"]
    pristine = get_domain("mock").load_db()
    assert "task_2" not in pristine.tasks and pristine.users["user_1"].tasks == ["task_1"]

    env = vec.envs[0].unwrapped
    env.reset(seed=1, options={"task_id": "create_task_1"})
    assert same_db(env.episode.world.environment.tools.db, pristine, get_domain("mock").tables)


def test_airline_writes_stay_in_their_episode(envs):
    env = envs["airline"]
    env.reset(seed=0, options={"task_id": "0"})
    before = get_domain("airline").load_db().reservations["EHGLP3"]
    _, _, _, _, info = env.step({"tool": "cancel_reservation", "arguments": {"reservation_id": "EHGLP3"}})
    assert json.loads(env.episode.world.environment.call("get_reservation_details", {"reservation_id": "EHGLP3"})[0])["status"] == "cancelled"
    assert get_domain("airline").load_db().reservations["EHGLP3"] is before and before.status is None
    env.reset(seed=0, options={"task_id": "0"})
    assert env.episode.world.environment.tools.db.reservations["EHGLP3"].status is None


@pytest.mark.parametrize(
    "tool,arguments,expected",
    [
        ("get_user_details", {"user_id": "nobody_1"}, "Error: User nobody_1 not found"),
        ("get_reservation_details", {"reservation_id": "ZZZZZZ"}, "Error: Reservation ZZZZZZ not found"),
        ("get_flight_status", {"flight_number": "HAT001", "date": "2030-01-01"},
         "Error: Flight HAT001 not found on date 2030-01-01"),
        ("get_flight_status", {"flight_number": "XYZ999", "date": "2024-05-01"}, "Error: Flight XYZ999 not found"),
        ("calculate", {"expression": "__import__('os')"}, "Error: Invalid characters in expression"),
        ("calculate", {"expression": "(2 + 3) * 4 / 3"}, "6.67"),
        ("update_reservation_passengers", {"reservation_id": "EHGLP3", "passengers": []},
         "Error: Number of passengers does not match"),
        ("send_certificate", {"user_id": "nobody_1", "amount": 50}, "Error: User nobody_1 not found"),
    ],
)
def test_airline_tool_outputs_and_errors_match_tau2(tool, arguments, expected):
    world = Tau2Environment(get_domain("airline"))
    assert world.call(tool, arguments)[0] == expected


def test_airline_booking_checks_payment_like_tau2():
    world = Tau2Environment(get_domain("airline"))
    user = world.tools.db.users["mia_li_3668"]
    card = next(k for k, m in user.payment_methods.items() if m.source == "credit_card")
    booking = {
        "user_id": "mia_li_3668", "origin": "JFK", "destination": "SEA", "flight_type": "one_way",
        "cabin": "economy", "flights": [{"flight_number": "HAT136", "date": "2024-05-20"}],
        "passengers": [{"first_name": "Mia", "last_name": "Li", "dob": "1990-04-05"}],
        "payment_methods": [{"payment_id": card, "amount": 1}], "total_baggages": 0,
        "nonfree_baggages": 0, "insurance": "no",
    }
    out, failed = world.call("book_reservation", booking)
    assert failed and out.startswith("Error: Payment amount does not add up, total price is ")
    price = int(out.split("total price is ")[1].split(",")[0])
    booking["payment_methods"][0]["amount"] = price
    out, failed = world.call("book_reservation", booking)
    assert not failed and json.loads(out)["reservation_id"] == "HATHAT"
    assert "HATHAT" in world.tools.db.users["mia_li_3668"].reservations
    assert "HATHAT" not in get_domain("airline").load_db().users["mia_li_3668"].reservations


def test_mock_tool_errors_match_tau2():
    world = Tau2Environment(get_domain("mock"))
    assert world.call("create_task", {"user_id": "ghost", "title": "x"}) == ("Error: User ghost not found", True)
    assert world.call("update_task_status", {"task_id": "task_9", "status": "completed"}) == (
        "Error: Task task_9 not found", True)
    out, failed = world.call("create_task", {"user_id": "user_1", "title": "T"})
    assert not failed and json.loads(out) == {"task_id": "task_2", "title": "T", "description": None, "status": "pending"}


def test_failed_calls_still_count_as_made_and_text_is_a_message():
    env = Tau2Env("mock", tau2_exact=False)  # validated mode: a bad argument earns the format penalty
    env.reset(seed=0, options={"task_id": "impossible_task_1"})
    _, reward, _, _, info = env.step({"tool": "create_task", "arguments": {"user_id": "user_1"}})  # title missing
    assert info["format_error"] and reward < 0
    obs, _, _, _, _ = env.step("<think>the policy forbids deleting</think>I cannot delete tasks. Can you confirm the user id?")
    conv = env.episode.world.conversation
    assert [t.tool for t in conv.tool_calls()] == ["create_task"]
    assert conv.agent_messages()[-1] == "I cannot delete tasks. Can you confirm the user id?"
    assert obs["output"].startswith("User: ")


def test_truncated_episode_scores_zero():
    env = Tau2Env("mock", max_turns=2)
    env.reset(seed=0, options={"task_id": "create_task_1"})
    env.step({"tool": "create_task", "arguments": {"user_id": "user_1", "title": "Important Meeting"}})
    _, reward, terminated, truncated, info = env.step({"tool": "get_users", "arguments": {}})
    assert truncated and not terminated and reward == 0.0 and info["end_reason"] == "max_turns"


def test_nl_assertions_are_never_silently_passed():
    task = Tau2Task.model_validate({
        "id": "nl", "user_scenario": {"instructions": "You want a compliment."},
        "evaluation_criteria": {"nl_assertions": ["The user is complimented"], "reward_basis": ["NL_ASSERTION"]},
    })
    info = play(Tau2Env("mock", tasks=[task]), "nl", [], ["You are wonderful."])
    assert info["reward_info"]["not_evaluated"] == ["NL_ASSERTION"]
    assert "NL_ASSERTION" not in info["reward_breakdown"]

    class Judge:
        def __init__(self, met: bool) -> None:
            self.met = met

        def complete(self, request: ExpertRequest) -> ExpertResponse:
            assert "You are wonderful." in request.prompt_text
            text = json.dumps([{"assertion": "The user is complimented", "met": self.met, "reason": "-"}])
            return ExpertResponse(text, 100, 20, 0.5)

    for met in (True, False):
        env = Tau2Env("mock", tasks=[task], experts=Judge(met), judge_model="gpt-5")
        info = play(env, "nl", [], ["You are wonderful."])
        assert info["reward"] == float(met) and info["reward_breakdown"] == {"NL_ASSERTION": float(met)}
        assert info["reward_info"]["judge_usage"]["tokens_in"] == 100


def test_solo_mode_uses_the_ticket_and_done():
    env = Tau2Env("mock", solo=True)
    assert "create_task_1_nl_eval" not in env.tau2_tasks  # tau2: solo needs gold actions
    obs, _ = env.reset(seed=0, options={"task_id": "create_task_1"})
    assert "<ticket>" in obs["task"] and "Important Meeting" in obs["task"] and obs["output"] == ""
    assert "respond" not in env.tools and "check_notifications" in env.tools
    env.step({"tool": "create_task", "arguments": {"user_id": "user_1", "title": "Important Meeting"}})
    _, reward, terminated, _, info = env.step({"tool": "done", "arguments": {}})
    assert terminated and reward == 1.0 and info["end_reason"] == "agent_stop"
    with pytest.raises(ValueError, match="no solo mode"):
        Tau2Env("airline", solo=True)


def test_splits_follow_tau2_files():
    d = get_domain("airline")
    splits = json.loads(d.split_path.read_text())
    train = Tau2Env("airline", split="train").tau2_tasks
    assert sorted(train) == sorted(splits["train"])
    with pytest.raises(ValueError, match="unknown split"):
        Tau2Env("airline", split="nope").tasks


def test_task_answer_renders_the_gold_actions(envs):
    task = next(t for t in envs["airline"].tasks if t.task_id == "1")
    gold = envs["airline"].tau2_tasks["1"].gold_actions
    assert task.benchmark == "tau2" and all(a.name in task.answer for a in gold)


def test_observations_stay_in_the_space(envs):
    env = envs["airline"]
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        assert env.observation_space.contains(obs)
        obs, *_ = env.step({"tool": "get_user_details", "arguments": {"user_id": "mia_li_3668"}})
        assert env.observation_space.contains(obs)


def test_action_matching_follows_compare_args():
    a = Action(name="f", arguments={"x": 1, "y": 2}, compare_args=["x"])
    assert a.matches("f", {"x": 1, "y": 99}) and not a.matches("f", {"x": 2, "y": 2})
    assert Action(name="f", arguments={"x": 1}, compare_args=[]).matches("f", {"z": 0})
    # compare_args None compares the *call's* arguments, as tau2 does
    assert not Action(name="f", arguments={"x": 1}).matches("f", {"x": 1, "extra": None})
    assert not a.matches("g", {"x": 1})


def test_pass_hat_k_is_tau2s():
    trials = {"a": [True, True, False, False], "b": [True, True, True, True]}
    assert pass_hat_k(trials, 1) == pytest.approx((0.5 + 1.0) / 2)
    assert pass_hat_k(trials, 2) == pytest.approx((1 / 6 + 1.0) / 2)
    assert pass_hat_k([[False, True]], 2) == 0.0
    with pytest.raises(ValueError):
        pass_hat_k(trials, 5)


def test_scripted_user_opens_with_its_reason_and_answers_from_known_info():
    task = next(t for t in _tasks("airline") if t.id == "0")
    user = Tau2ScriptedUser(task)
    dialogue = Dialogue(user, device=Tau2Environment(get_domain("airline")).user_device())
    assert "cancel reservation EHGLP3" in user.opening(dialogue).text
    assert "emma_kim_9957" in user.reply("Could you give me your user id?", dialogue).text
    assert user.reply("Shall I proceed with the cancellation?", dialogue).text == "Yes, please go ahead."
    assert STOP in user.reply("Your reservation has been cancelled.", dialogue).text
    assert first_person("Your user id is x. You are Emma.") == "My user id is x. I am Emma."


def test_call_expert_is_priced_and_sees_the_task(envs):
    env = envs["airline"]
    env.reset(seed=0, options={"task_id": "1"})
    alias = env.tools["call_expert"].schema()["function"]["parameters"]["properties"]["expert"]["enum"][0]
    obs, _, _, _, info = env.step({"tool": "call_expert", "arguments": {"expert": alias, "question": "What next?"}})
    assert info["error"] is None and info["cost_usd"] > 0 and info["model"] == alias
    assert obs["output"].startswith(f"Expert advice ({alias}):")


def test_llm_user_speaks_uses_its_tools_and_stops():
    class FakeUserModel:
        """Replies in turn: a tool call, an opening, then a stop; records what it was shown."""

        def __init__(self) -> None:
            self.replies = ['<tool_call>{"name": "check_notifications", "arguments": {}}</tool_call>',
                            "Please mark task_1 as completed.", "Thanks! ###STOP###"]
            self.seen: list[ExpertRequest] = []

        def complete(self, request: ExpertRequest) -> ExpertResponse:
            self.seen.append(request)
            return ExpertResponse(self.replies[len(self.seen) - 1], 50, 10, 0.2)

    model = FakeUserModel()
    env = Tau2Env("mock", user="llm", user_model="gpt-4.1", experts=model, charge_orchestrator=False)
    obs, _ = env.reset(seed=0, options={"task_id": "update_task_with_user_tools"})
    assert obs["output"] == "User: Please mark task_1 as completed."
    assert model.seen[0].role == "user" and "<scenario>" in model.seen[0].messages[0]["content"]
    assert "notif_1" in model.seen[1].prompt_text  # the tool result came back to the user model
    env.step({"tool": "update_task_status", "arguments": {"task_id": "task_1", "status": "completed"}})
    _, _, terminated, _, info = env.step("Done: task_1 is completed.")
    assert terminated and info["end_reason"] == "user_stop"
    assert info["user_usage"]["tokens_in"] == 150 and info["total_cost_usd"] == 0.0  # not billed to the policy
    with pytest.raises(ValueError, match="user_model"):
        Tau2Env("mock", user="llm")


@pytest.mark.parametrize("expression", ["2 + 2", "(120.5 - 20) * 2 / 3", "-3 * -(2)", "7 // 2", "2 ** -1",
                                        "1 / 0", "1 2", "2 $ 3", "()"])
def test_generic_tools_are_shared_and_calculate_matches_tau2s_eval(expression):
    airline, retail = get_domain("airline").tools_cls, get_domain("retail").tools_cls
    assert airline.tool_methods()["calculate"] is retail.tool_methods()["calculate"]
    assert all(get_domain(d).tools_cls.tool_methods()["transfer_to_human_agents"]
               is airline.tool_methods()["transfer_to_human_agents"] for d in ("mock", "retail", "telecom"))
    world = Tau2Environment(get_domain("retail"))
    ours, failed = world.call("calculate", {"expression": expression})
    try:  # tau2's implementation, as the oracle
        if not all(char in "0123456789+-*/(). " for char in expression):
            raise ValueError("Invalid characters in expression")
        expected = str(round(float(eval(expression, {"__builtins__": None}, {})), 2))
    except Exception as exc:  # noqa: BLE001
        assert failed and ours.startswith("Error: ")
        if not isinstance(exc, TypeError):  # eval's "()" is a tuple; ours refuses it earlier
            assert ours == f"Error: {exc}"
        return
    assert (ours, failed) == (expected, False)


def test_an_empty_split_fails_at_make_time_with_the_splits_to_use():
    import gymnasium as gym
    import pytest

    with pytest.raises(ValueError, match="small"):
        gym.make("Orchestra/Tau2-telecom-v0", split="test")
