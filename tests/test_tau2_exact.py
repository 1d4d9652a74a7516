"""tau2_exact: tool calls run as tau2-bench runs them; tau2_exact=False keeps our validated mode.

Every expected text below is derived from tau2-bench's source at commit a2c0247
(sierra-research/tau2-bench); the comment on each names the line that produces it:
* ``environment/environment.py`` ``get_response``: ``resp = f"Error: {e}"`` for any exception.
* ``environment/toolkit.py`` ``use_tool``: ``raise ValueError(f"Tool '{tool_name}' not found.")``
  then ``self.tools[tool_name](**kwargs)``: the arguments reach the method untouched, so a
  missing or extra argument is Python's ``TypeError`` on the bound method of tau2's class.
* ``evaluator/evaluator_env.py``: the DB reward compares ``get_dict_hash(db.model_dump())``,
  i.e. ``json.dumps(..., sort_keys=True, default=str)``: ``2`` and ``2.0`` differ.
"""
from __future__ import annotations

import json

import gymnasium as gym
import pytest

import orchestra_env  # noqa: F401 - registers the ids
from orchestra_env.domains.tau2 import get_domain
from orchestra_env.domains.tau2.environment import Tau2Environment
from orchestra_env.envs.tau2 import Tau2Env

AIRLINE_USER = "emma_kim_9957"  # airline task "0"'s user
RESERVATION = "EHGLP3"  # airline task "0"'s reservation (emma_kim_9957's)


def world(domain: str, exact: bool) -> Tau2Environment:
    return Tau2Environment(get_domain(domain), exact=exact)


def play(env: Tau2Env, task_id: str, actions: list) -> tuple[list[tuple[str, bool]], dict]:
    """Reset, take the actions (then say goodbye unless the episode ended): outputs and last info."""
    env.reset(seed=0, options={"task_id": task_id})
    outputs: list[tuple[str, bool]] = []
    info: dict = {}
    for action in list(actions) + ["Thank you for contacting us. Goodbye!"]:
        obs, _, terminated, truncated, info = env.step(action)
        outputs.append((obs["output"], terminated or truncated))
        if terminated or truncated:
            return outputs, info
    raise AssertionError("episode did not end")


def payment_id(w: Tau2Environment, reservation_id: str) -> str:
    user = w.tools.db.users[w.tools.db.reservations[reservation_id].user_id]
    return next(p for p, m in user.payment_methods.items() if m.source == "credit_card")


# ---------------------------------------------------------------- 1. raw arguments
def test_send_certificate_with_a_fractional_amount():
    # tau2 airline/tools.py send_certificate: Certificate(amount=amount) (Certificate.amount: float)
    # and return f"Certificate {payment_id} added to user {user_id} with amount {amount}."
    w = world("airline", exact=True)
    assert w.call("send_certificate", {"user_id": AIRLINE_USER, "amount": 99.5}) == (
        f"Certificate certificate_3221322 added to user {AIRLINE_USER} with amount 99.5.", False)
    assert w.tools.db.users[AIRLINE_USER].payment_methods["certificate_3221322"].amount == 99.5

    w = world("airline", exact=False)
    out, failed = w.call("send_certificate", {"user_id": AIRLINE_USER, "amount": 99.5})
    assert failed and out.startswith("Error: bad arguments for 'send_certificate': amount:")
    assert "certificate_3221322" not in w.tools.db.users[AIRLINE_USER].payment_methods


@pytest.mark.parametrize("exact,reward", [(True, 0.0), (False, 1.0)])
def test_fractional_certificate_reward_on_airline_task_0(exact, reward):
    # Task 0 (reward basis DB, COMMUNICATE; no gold action): in tau2 the certificate is written,
    # the DB hash differs from the gold one, reward 0. Ours (validated) refuses the call: 1.
    env = Tau2Env("airline", tau2_exact=exact)
    outputs, info = play(env, "0", [{"tool": "send_certificate",
                                     "arguments": {"user_id": AIRLINE_USER, "amount": 99.5}}])
    assert outputs[0][0].startswith("Certificate certificate_3221322" if exact else "Invalid arguments: bad arguments")
    assert info["reward"] == reward and info["reward_breakdown"]["DB"] == reward


def test_update_task_status_with_a_status_outside_the_literal():
    # tau2 mock/tools.py update_task_status: task.status = status (no validation on assignment)
    w = world("mock", exact=True)
    out, failed = w.call("update_task_status", {"task_id": "task_1", "status": "in_progress"})
    assert not failed and json.loads(out)["status"] == "in_progress"
    assert w.tools.db.tasks["task_1"].status == "in_progress"

    w = world("mock", exact=False)
    out, failed = w.call("update_task_status", {"task_id": "task_1", "status": "in_progress"})
    assert failed and "status: Input should be 'pending' or 'completed'" in out
    assert w.tools.db.tasks["task_1"].status == "pending"


@pytest.mark.parametrize("exact", [True, False])
def test_transfer_with_a_non_string_summary(exact):
    # tau2 transfer_to_human_agents ignores summary and returns "Transfer successful"; tau2's
    # user then ends the conversation (###TRANSFER###), which our env does on a transfer.
    env = Tau2Env("mock", tau2_exact=exact)
    env.reset(seed=0, options={"task_id": "create_task_1"})
    obs, _, terminated, _, info = env.step({"tool": "transfer_to_human_agents", "arguments": {"summary": 12345}})
    if exact:
        assert obs["output"] == "Transfer successful" and terminated and info["end_reason"] == "transfer"
    else:
        assert obs["output"].startswith("Invalid arguments: bad arguments for 'transfer_to_human_agents'")
        assert not terminated


def test_onestop_search_with_a_list_origin():
    # tau2 _search_direct_flight: flight.origin == ["JFK"] is never true -> results []
    args = {"origin": ["JFK"], "destination": "LAX", "date": "2024-05-16"}
    assert world("airline", exact=True).call("search_onestop_flight", args) == ("[]", False)
    out, failed = world("airline", exact=False).call("search_onestop_flight", args)
    assert failed and "origin: Input should be a valid string" in out


def test_baggage_update_with_string_counts():
    # tau2 update_reservation_baggages: 50 * max(0, nonfree_baggages - reservation.nonfree_baggages)
    # with nonfree_baggages="1" raises TypeError before anything is written
    w = world("airline", exact=True)
    before = w.tools.db.reservations[RESERVATION].model_dump()
    args = {"reservation_id": RESERVATION, "total_baggages": "3", "nonfree_baggages": "1",
            "payment_id": payment_id(w, RESERVATION)}
    assert w.call("update_reservation_baggages", args) == (
        "Error: unsupported operand type(s) for -: 'str' and 'int'", True)
    assert w.tools.db.reservations[RESERVATION].model_dump() == before

    w = world("airline", exact=False)
    out, failed = w.call("update_reservation_baggages", args)
    stored = w.tools.db.reservations[RESERVATION]
    assert not failed and (stored.total_baggages, stored.nonfree_baggages) == (3, 1)
    assert json.loads(out)["total_baggages"] == 3


def test_refuel_data_with_a_string_amount():
    # tau2 telecom/tools.py refuel_data: `if gb_amount <= 0` with "2" raises TypeError
    args = {"customer_id": "C1001", "line_id": "L1001", "gb_amount": "2"}
    w = world("telecom", exact=True)
    assert w.call("refuel_data", args) == ("Error: '<=' not supported between instances of 'str' and 'int'", True)
    assert w.tools.db.lines["L1001"].data_refueling_gb == 0.0
    w = world("telecom", exact=False)
    out, failed = w.call("refuel_data", args)
    assert not failed and w.tools.db.lines["L1001"].data_refueling_gb == 2.0


def test_bills_with_a_string_limit():
    # tau2 get_bills_for_customer: return sorted_bills[:limit] with limit="2"
    args = {"customer_id": "C1001", "limit": "2"}
    assert world("telecom", exact=True).call("get_bills_for_customer", args) == (
        "Error: slice indices must be integers or None or have an __index__ method", True)
    out, failed = world("telecom", exact=False).call("get_bills_for_customer", args)
    assert not failed and len(json.loads(out)) == 2


# ---------------------------------------------------------------- 2. numbers as passed
def test_certificate_amount_prints_as_passed():
    # f"... with amount {amount}." of the raw 100.0 in tau2; ours coerces to int 100 first
    out, _ = world("airline", exact=True).call("send_certificate", {"user_id": AIRLINE_USER, "amount": 100.0})
    assert out.endswith("with amount 100.0.")
    out, _ = world("airline", exact=False).call("send_certificate", {"user_id": AIRLINE_USER, "amount": 100.0})
    assert out.endswith("with amount 100.")


def test_a_float_count_is_stored_as_a_float_and_changes_the_db_hash():
    # tau2: reservation.total_baggages = total_baggages (assignment, not validated) stores 2.0;
    # json.dumps of the dump then says 2.0, not 2, so the DB hash differs from a DB with 2
    def baggages(exact: bool, total: float | int) -> Tau2Environment:
        w = world("airline", exact)
        w.call("update_reservation_baggages", {"reservation_id": RESERVATION, "total_baggages": total,
                                               "nonfree_baggages": 0, "payment_id": payment_id(w, RESERVATION)})
        return w

    as_float, as_int = baggages(True, 2.0), baggages(True, 2)
    assert repr(as_float.tools.db.reservations[RESERVATION].total_baggages) == "2.0"
    assert not as_float.same_state(as_int)
    validated = baggages(False, 2.0)
    assert repr(validated.tools.db.reservations[RESERVATION].total_baggages) == "2"
    assert validated.same_state(baggages(False, 2))


def test_refuel_an_int_amount_prints_and_bills_as_an_int():
    # tau2 refuel_data: f"Successfully added {gb_amount} GB of data for line {line_id} for ${charge_amount:.2f}"
    # and the line item f"Data refueling: {gb_amount} GB at ${plan.data_refueling_price_per_gb}/GB"
    args = {"customer_id": "C1001", "line_id": "L1001", "gb_amount": 2}
    for exact, shown in ((True, "2"), (False, "2.0")):
        w = world("telecom", exact)
        price = w.tools.db.plans[w.tools.db.lines["L1001"].plan_id].data_refueling_price_per_gb
        out, failed = w.call("refuel_data", args)
        assert not failed
        assert json.loads(out)["message"] == f"Successfully added {shown} GB of data for line L1001 for ${2 * price:.2f}"
        descriptions = [item.description for b in w.tools.db.bills.values() for item in b.line_items]
        assert f"Data refueling: {shown} GB at ${price}/GB" in descriptions


# ---------------------------------------------------------------- 4. error texts
@pytest.mark.parametrize("exact", [True, False])
def test_missing_extra_and_unknown(exact):
    w = world("airline", exact)
    missing = w.call("send_certificate", {"user_id": AIRLINE_USER})
    extra = w.call("transfer_to_human_agents", {"summary": "s", "urgent": True})
    unknown = w.call("cancel_everything", {})
    if exact:  # Python's TypeError on tau2's AirlineTools bound methods
        assert missing == ("Error: AirlineTools.send_certificate() missing 1 required positional argument: 'amount'", True)
        assert extra == ("Error: AirlineTools.transfer_to_human_agents() got an unexpected keyword argument 'urgent'", True)
    else:
        assert missing == ("Error: bad arguments for 'send_certificate': amount: Field required", True)
        assert extra == ("Error: bad arguments for 'transfer_to_human_agents': urgent: Extra inputs are not permitted", True)
    assert unknown == ("Error: Tool 'cancel_everything' not found.", True)  # toolkit.py use_tool, both modes


@pytest.mark.parametrize("exact", [True, False])
def test_unknown_tool_in_the_env(exact):
    env = Tau2Env("mock", tau2_exact=exact, format_penalty=0.5)
    env.reset(seed=0, options={"task_id": "create_task_1"})
    obs, reward, terminated, _, _ = env.step({"tool": "cancel_everything", "arguments": {}})
    assert not terminated
    if exact:  # tau2 answers with a failed tool message; nothing to penalise
        assert (obs["output"], reward) == ("Error: Tool 'cancel_everything' not found.", 0.0)
    else:
        assert obs["output"].startswith("Unknown tool 'cancel_everything'") and reward == -0.5


def test_pydantic_errors_link_to_tau2s_pydantic():
    # tau2 book_reservation: Passenger(**passenger) raises pydantic's ValidationError; tau2 locks pydantic 2.12
    w = world("airline", exact=True)
    out, failed = w.call("update_reservation_passengers",
                         {"reservation_id": RESERVATION, "passengers": [{"first_name": "A"}]})
    assert failed and out.startswith("Error: 2 validation errors for Passenger\nlast_name\n  Field required")
    assert "https://errors.pydantic.dev/2.12/v/missing" in out


# ---------------------------------------------------------------- 3. solo episodes
@pytest.mark.parametrize("exact,reward", [(True, 1.0), (False, 0.0)])
def test_solo_transfer_does_not_end_the_episode_in_exact_mode(exact, reward):
    # tau2 LLMSoloAgent stops only on `done` (STOP_FUNCTION_NAME); a transfer is just a tool call
    env = Tau2Env("telecom", solo=True, tau2_exact=exact)
    env.reset(seed=0, options={"task_id": "[mobile_data_issue]user_abroad_roaming_enabled_off[PERSONA:None]"})
    steps = [{"tool": "transfer_to_human_agents", "arguments": {"summary": "roaming"}},
             {"tool": "toggle_roaming", "arguments": {}}, {"tool": "done", "arguments": {}}]
    for step in steps:
        _, _, terminated, truncated, info = env.step(step)
        if terminated or truncated:
            break
    assert info["end_reason"] == ("agent_stop" if exact else "transfer")
    assert info["reward"] == reward


# ---------------------------------------------------------------- defaults and schema
def test_registered_ids_default_to_exact_and_schema_is_the_same_in_both_modes():
    made = gym.make("Orchestra/Tau2-airline-v0").unwrapped
    assert made.tau2_exact is True
    validated = Tau2Env("airline", tau2_exact=False)
    assert [t.schema() for t in made.tools.values()] == [t.schema() for t in validated.tools.values()]
    assert made.tools_text() == validated.tools_text()


# ---------------------------------------------------------------- retail's two swapping tools
@pytest.mark.parametrize("exact", [True, False])
def test_item_swap_errors_keep_each_tools_own_text(exact):
    # tau2 retail/tools.py: modify_pending_order_items and exchange_delivered_order_items run the
    # same checks with their own messages (a period only in the exchange's count mismatch)
    w = world("retail", exact)
    pending, delivered = ("#W5918442", "1725100896"), ("#W4817420", "6777246137")
    modify = w.call("modify_pending_order_items", {"order_id": pending[0], "item_ids": [pending[1]],
                                                   "new_item_ids": [], "payment_method_id": "x"})
    exchange = w.call("exchange_delivered_order_items", {"order_id": delivered[0], "item_ids": [delivered[1]],
                                                         "new_item_ids": [], "payment_method_id": "x"})
    wrong = w.call("exchange_delivered_order_items", {"order_id": pending[0], "item_ids": [],
                                                      "new_item_ids": [], "payment_method_id": "x"})
    assert modify == ("Error: The number of items to be exchanged should match", True)
    assert exchange == ("Error: The number of items to be exchanged should match.", True)
    assert wrong == ("Error: Non-delivered order cannot be exchanged", True)


@pytest.mark.parametrize("exact", [True, False])
def test_solo_text_message(exact):
    # tau2 orchestrator.py: in solo mode a message that is not a tool call and not a stop ends
    # the run with TerminationReason.AGENT_ERROR, and evaluate_simulation scores that 0
    env = Tau2Env("telecom", solo=True, tau2_exact=exact, format_penalty=0.25)
    env.reset(seed=0, options={"task_id": "[mobile_data_issue]user_abroad_roaming_enabled_off[PERSONA:None]"})
    env.step({"tool": "toggle_roaming", "arguments": {}})  # the fix: done now would score 1
    _, reward, terminated, _, info = env.step("The roaming is fixed now.")
    if exact:
        assert terminated and info["end_reason"] == "agent_error" and info["reward"] == 0.0 and reward == 0.0
    else:  # validated mode: a malformed action, penalised; the episode goes on and `done` scores 1
        assert not terminated and info["format_error"] and reward == -0.25
        _, _, terminated, _, info = env.step({"tool": "done", "arguments": {}})
        assert terminated and info["reward"] == 1.0


@pytest.mark.parametrize("exact", [True, False])
def test_phone_settings_with_non_string_values(exact):
    # tau2 telecom/user_tools.py: _set_network_mode_preference assigns a non-str mode as it is,
    # then `valid_mode.value` raises; _set_apn_settings assigns, then `apn_settings.apn_name.value`
    # raises before set_apn_settings runs its network search
    w = world("telecom", exact)
    device = w.user_tools.db.device
    before_apn, before_status = device.active_apn_settings, device.network_connection_status
    mode = w.call("set_network_mode_preference", {"mode": 12345}, "user")
    apn = w.call("set_apn_settings", {"apn_settings": "x"}, "user")
    if exact:
        assert mode == ("Error: 'int' object has no attribute 'value'", True)
        assert apn == ("Error: 'str' object has no attribute 'apn_name'", True)
        assert w.user_tools.db.device.network_mode_preference == 12345
        assert w.user_tools.db.device.active_apn_settings == "x"
    else:
        assert mode[1] and mode[0].startswith("Error: bad arguments for 'set_network_mode_preference'")
        assert apn[1] and apn[0].startswith("Error: bad arguments for 'set_apn_settings'")
        assert w.user_tools.db.device.active_apn_settings == before_apn
        assert w.user_tools.db.device.network_connection_status == before_status
