"""tau2 retail and telecom: tool semantics, copy-on-write episodes, and gold-action replays.

The replays go through the framework's ``Tau2Environment`` and ``evaluate``: every task's gold
actions must score 1.0, and doing nothing must score 0.0 wherever the task requires a change.
"""
from __future__ import annotations

import json
from typing import Callable

import pytest

from orchestra_env.domains.conversation import Conversation
from orchestra_env.domains.tau2 import get_domain
from orchestra_env.domains.tau2.environment import Tau2Environment, same_db
from orchestra_env.domains.tau2.evaluation import evaluate
from orchestra_env.domains.tau2.retail.data_model import Order, RetailDB
from orchestra_env.domains.tau2.retail.data_model import load_db as load_retail_db
from orchestra_env.domains.tau2.tasks import Action, Tau2Task, load_tasks
from orchestra_env.domains.tau2.telecom.data_model import BillStatus, LineStatus
from orchestra_env.domains.tau2.user import ask_user_to, requested_calls
from orchestra_env.envs.tau2 import Tau2Env, gold_steps
from orchestra_env.transcript import ToolCallTurn, ToolResultTurn

RETAIL = get_domain("retail")
TELECOM = get_domain("telecom")


def first_order(db: RetailDB, keep: Callable[[Order], bool]) -> Order:
    return next(o for o in db.orders.values() if keep(o))


def first_payment_method(db: RetailDB, order: Order):
    return db.users[order.user_id].payment_methods[order.payment_history[0].payment_method_id]


# --------------------------------------------------------------------------- retail tools
def test_retail_reads_return_records_and_tau2_errors() -> None:
    tools, _ = RETAIL.new_toolkits()
    user = next(iter(tools.db.users.values()))
    assert tools.find_user_id_by_email(user.email.upper()) == user.user_id
    assert tools.find_user_id_by_name_zip(
        user.name.first_name.lower(), user.name.last_name, user.address.zip
    ) == user.user_id
    with pytest.raises(ValueError, match="^User not found$"):
        tools.find_user_id_by_email("nobody@example.com")
    with pytest.raises(ValueError, match="^Order not found$"):
        tools.get_order_details("W0000000")  # the '#' is missing
    item_id, variant = next(iter(next(iter(tools.db.products.values())).variants.items()))
    assert tools.get_item_details(item_id) is variant
    products = json.loads(tools.list_all_product_types())
    assert len(products) == 50 and list(products) == sorted(products)
    assert tools.calculate("(2 + 3) * 1.5 / 4") == "1.88"
    with pytest.raises(ValueError, match="Invalid characters"):
        tools.calculate("__import__('os')")


def test_retail_tool_output_is_tau2_json_and_errors_are_observations() -> None:
    env = Tau2Environment(RETAIL)
    order = next(iter(env.tools.db.orders.values()))
    text, failed = env.call("get_order_details", {"order_id": order.order_id})
    assert not failed and json.loads(text) == json.loads(json.dumps(order.model_dump()))
    assert text.startswith('{"order_id": ')  # json.dumps spacing, as tau2 prints it
    assert env.call("get_order_details", {"order_id": "#nope"}) == ("Error: Order not found", True)


def test_cancel_refunds_gift_card_at_once_and_leaves_the_base_untouched() -> None:
    base = RETAIL.load_db()
    order = first_order(base, lambda o: o.status == "pending" and first_payment_method(base, o).source == "gift_card")
    balance, paid = first_payment_method(base, order).balance, order.payment_history[0].amount
    tools, _ = RETAIL.new_toolkits()
    with pytest.raises(ValueError, match="^Invalid reason$"):
        tools.cancel_pending_order(order.order_id, "changed my mind")
    out = tools.cancel_pending_order(order.order_id, "no longer needed")
    assert out.status == "cancelled" and out.cancel_reason == "no longer needed"
    assert [(p.transaction_type, p.amount) for p in out.payment_history] == [("payment", paid), ("refund", paid)]
    assert first_payment_method(tools.db, out).balance == round(balance + paid, 2)
    with pytest.raises(ValueError, match="^Non-pending order cannot be cancelled$"):
        tools.cancel_pending_order(order.order_id, "no longer needed")
    assert base.orders[order.order_id].status == "pending"
    assert first_payment_method(base, order).balance == balance


def test_modify_items_keeps_tau2_last_variant_price_quirk() -> None:
    """tau2 gives every modified item the price of the *last* new variant; scores depend on it."""
    tools, _ = RETAIL.new_toolkits()
    db = tools.db

    def alternative(item) -> str | None:
        return next(
            (v.item_id for v in db.products[item.product_id].variants.values()
             if v.available and v.item_id != item.item_id and v.price != item.price),
            None,
        )

    order = first_order(
        db,
        lambda o: o.status == "pending" and len({i.product_id for i in o.items[:2]}) == 2
        and all(alternative(i) for i in o.items[:2]),
    )
    first, second = order.items[:2]
    new = [alternative(first), alternative(second)]
    last = db.products[second.product_id].variants[new[1]]
    expected_diff = sum(db.products[i.product_id].variants[n].price - i.price for i, n in zip((first, second), new))
    credit_card = next((m for m in db.users[order.user_id].payment_methods.values() if m.source != "gift_card"), None)
    method = credit_card.id if credit_card else order.payment_history[0].payment_method_id
    out = tools.modify_pending_order_items(order.order_id, [first.item_id, second.item_id], new, method)
    assert out.status == "pending (item modified)"
    assert [i.item_id for i in out.items[:2]] == new
    assert out.items[0].price == out.items[1].price == last.price
    assert out.items[0].options == last.options
    assert out.payment_history[-1].amount == pytest.approx(abs(expected_diff))
    with pytest.raises(ValueError, match="^Non-pending order cannot be modified$"):
        tools.modify_pending_order_items(order.order_id, [new[0]], [first.item_id], method)


def test_return_and_exchange_checks() -> None:
    tools, _ = RETAIL.new_toolkits()
    db = tools.db
    order = first_order(db, lambda o: o.status == "delivered")
    original = order.payment_history[0].payment_method_id
    other = [m for m in db.users[order.user_id].payment_methods.values() if m.id != original and m.source != "gift_card"]
    if other:
        with pytest.raises(ValueError, match="^Payment method should be the original payment method$"):
            tools.return_delivered_order_items(order.order_id, [order.items[0].item_id], other[0].id)
    with pytest.raises(ValueError, match="^Some item not found$"):
        tools.return_delivered_order_items(order.order_id, ["0000000000"], original)
    with pytest.raises(ValueError, match=r"^Number of 0000000000 not found\.$"):
        tools.exchange_delivered_order_items(order.order_id, ["0000000000"], ["1"], original)
    ids = sorted(i.item_id for i in order.items)
    out = tools.return_delivered_order_items(order.order_id, list(reversed(ids)), original)
    assert (out.status, out.return_items, out.return_payment_method_id) == ("return requested", ids, original)


# --------------------------------------------------------------------------- copy-on-write
def test_episode_copies_are_isolated_and_share_untouched_records() -> None:
    a, _ = RETAIL.new_toolkits()
    b, _ = RETAIL.new_toolkits()
    base = RETAIL.load_db()
    user_id = next(iter(base.users))
    a.modify_user_address(user_id, "1 New St", "", "Paris", "IDF", "France", "75001")
    assert a.db.users[user_id].address.city == "Paris"
    assert b.db.users[user_id].address.city != "Paris"
    assert base.users[user_id].address.city != "Paris"
    assert b.db.users[user_id] is base.users[user_id]  # untouched: still the shared record
    other = next(k for k in base.users if k != user_id)
    assert a.db.users[other] is base.users[other]
    assert not same_db(a.db, b.db, RETAIL.tables)


def test_telecom_episode_copies_are_isolated() -> None:
    a, ua = TELECOM.new_toolkits()
    b, ub = TELECOM.new_toolkits()
    a.suspend_line("C1001", "L1001", "travel")
    ua.toggle_airplane_mode()
    assert b.db.lines["L1001"].status == LineStatus.ACTIVE == TELECOM.load_db().lines["L1001"].status
    assert not ub.device.airplane_mode and not TELECOM.load_user_db().device.airplane_mode


# --------------------------------------------------------------------------- telecom tools
def test_telecom_agent_tools() -> None:
    tools, _ = TELECOM.new_toolkits()
    assert tools.get_customer_by_phone("555-123-2002").customer_id == "C1001"  # a line's number
    with pytest.raises(ValueError, match="^Unknown ID format or type: X1$"):
        tools.get_details_by_id("X1")
    with pytest.raises(ValueError, match="^Line L1004 not found for customer C1001$"):
        tools.suspend_line("C1001", "L1004", "travel")
    out = tools.suspend_line("C1001", "L1001", "travel")
    assert out["line"].status == LineStatus.SUSPENDED and str(out["line"].suspension_start_date) == "2025-02-25"
    with pytest.raises(ValueError, match="^Line must be active to suspend$"):
        tools.suspend_line("C1001", "L1001", "travel")
    assert tools.resume_line("C1001", "L1001")["line"].suspension_start_date is None
    assert tools.enable_roaming("C1001", "L1002") in ("Roaming enabled successfully", "Roaming was already enabled")
    assert tools.enable_roaming("C1001", "L1002") == "Roaming was already enabled"
    assert str(tools.get_data_usage("C1001", "L1002")["cycle_end_date"]) == "2025-02-28"


def test_refuel_charges_the_draft_bill() -> None:
    tools, _ = TELECOM.new_toolkits()
    draft = tools.db.bills["B1003"]  # C1001's open bill
    line = tools.db.lines["L1002"]
    price = tools.db.plans[line.plan_id].data_refueling_price_per_gb
    out = tools.refuel_data("C1001", "L1002", 2.0)
    assert out["charge"] == 2.0 * price
    assert out["new_data_refueling_gb"] == tools.db.lines["L1002"].data_refueling_gb == line.data_refueling_gb + 2.0
    assert tools.db.bills["B1003"].total_due == draft.total_due + 2.0 * price
    assert tools.db.bills["B1003"].line_items[-1].description == f"Data refueling: 2.0 GB at ${price}/GB"
    with pytest.raises(ValueError, match="^Refuel amount must be positive$"):
        tools.refuel_data("C1001", "L1002", 0)


def test_a_new_draft_bill_gets_a_deterministic_id() -> None:
    """tau2 names it with uuid4, so two replays of the same actions would end in different DBs."""
    bills = []
    for _ in range(2):
        tools, _ = TELECOM.new_toolkits()  # C1002 has no draft bill yet
        before = set(tools.db.customers["C1002"].bill_ids)
        tools.refuel_data("C1002", "L1004", 1.0)
        (new_id,) = set(tools.db.customers["C1002"].bill_ids) - before
        bill = tools.db.bills[new_id]
        assert bill.status == BillStatus.DRAFT and str(bill.period_start) == "2025-03-01"
        assert [i.item_type for i in bill.line_items] == ["Charge"] and bill.total_due > 0
        bills.append(bill)
    assert bills[0] == bills[1]


def test_phone_tools_follow_the_network_rules() -> None:
    env = Tau2Environment(TELECOM)
    phone = env.user_tools
    text, _ = env.call("toggle_airplane_mode", {}, "user")
    assert text == "Airplane Mode is now ON.\nStatus Bar: ✈️ Airplane Mode | 🔋 80%"
    assert phone.device.network_connection_status.value == "no_service"
    assert env.call("run_speed_test", {}, "user")[0] == "Speed test failed: No Connection."
    env.call("toggle_airplane_mode", {}, "user")
    assert phone.check_status_bar() == "Status Bar: 📶⁴ Excellent | 5G | 📱 Data Enabled | 🔋 80%"
    assert phone.run_speed_test().startswith("Speed Test Result: 275.00 Mbps (Excellent).")
    out, _ = env.call("set_network_mode_preference", {"mode": "3g_only"}, "user")
    assert out.startswith("Preferred Network Mode set to: 3g_only\nStatus Bar: 📶² Fair | 3G")
    assert env.call("set_network_mode_preference", {"mode": "6g"}, "user")[0].startswith(
        "Failed to set network mode: '6g' is not a valid option."
    )
    phone.remove_app_permission("messaging", "storage")
    assert phone.can_send_mms() == "Your messaging app cannot send MMS messages."
    assert phone.grant_app_permission("messaging", "Storage").startswith(
        "Success. Permission 'storage' granted to app 'messaging'."
    )
    assert phone.can_send_mms() == "Your messaging app can send MMS messages."


def test_sync_carries_payments_between_carrier_and_phone() -> None:
    env = Tau2Environment(TELECOM)
    env.user_tools.set_user_info("John Smith", "555-123-2002")
    tools, phone = env.tools, env.user_tools
    bill_id = next(b for b in tools.db.customers["C1001"].bill_ids if tools.db.bills[b].status != BillStatus.PAID)
    assert env.call("send_payment_request", {"customer_id": "C1001", "bill_id": bill_id}) == (
        f"Payment request sent to the customer for bill {bill_id}", False
    )
    assert phone.check_payment_request().startswith(f"You have a payment request for bill {bill_id}")
    env.call("make_payment", {}, "user")
    assert tools.db.bills[bill_id].status == BillStatus.PAID
    assert phone.surroundings.payment_request is None


# --------------------------------------------------------------------------- gold replays
def replay(domain, task: Tau2Task, actions: list[Action]) -> tuple[Tau2Environment, Conversation]:
    """An episode whose only moves are ``actions``, as the environment would record them."""
    env = Tau2Environment(domain)
    env.apply_initial_state(task.initial_state)
    conversation = Conversation.from_history(task.initial_state.message_history if task.initial_state else None)
    for action in actions:
        conversation.add(ToolCallTurn(action.name, dict(action.arguments), requestor=action.requestor))
        output, failed = env.call(action.name, action.arguments, action.requestor)
        conversation.add(ToolResultTurn(action.name, output, requestor=action.requestor,
                                        error=output if failed else None))
    return env, conversation


def changes_something(domain, task: Tau2Task) -> bool:
    """Whether the gold actions leave the databases different from the initial state."""
    gold, _ = replay(domain, task, task.gold_actions)
    start, _ = replay(domain, task, [])
    return not gold.same_state(start)


RETAIL_DB_TASKS = [t for t in load_tasks(RETAIL.tasks_path) if "DB" in t.reward_basis]
TELECOM_TASKS = load_tasks(TELECOM.tasks_path)


def test_task_counts() -> None:
    assert len(RETAIL_DB_TASKS) == len(load_tasks(RETAIL.tasks_path)) == 114
    assert len(TELECOM_TASKS) == 20


@pytest.mark.parametrize("task", RETAIL_DB_TASKS, ids=lambda t: f"retail-{t.id}")
def test_retail_gold_scores_one_and_doing_nothing_scores_zero(task: Tau2Task) -> None:
    world, conversation = replay(RETAIL, task, task.gold_actions)
    info = evaluate(RETAIL, task, world, conversation)
    assert info.db_match and info.breakdown["DB"] == 1.0 and info.reward == 1.0, info
    idle, idle_conversation = replay(RETAIL, task, [])
    idle_reward = evaluate(RETAIL, task, idle, idle_conversation).reward
    assert idle_reward == (0.0 if changes_something(RETAIL, task) else 1.0)


@pytest.mark.parametrize("task", TELECOM_TASKS, ids=lambda t: f"telecom-{t.id}")
def test_telecom_gold_scores_one_and_doing_nothing_scores_zero(task: Tau2Task) -> None:
    world, conversation = replay(TELECOM, task, task.gold_actions)
    info = evaluate(TELECOM, task, world, conversation)
    assert info.reward == 1.0 and all(a["met"] for a in info.env_assertions), info
    idle, idle_conversation = replay(TELECOM, task, [])
    assert evaluate(TELECOM, task, idle, idle_conversation).reward == 0.0


def test_retail_gold_writes_reach_the_db_and_never_the_shared_base() -> None:
    """After every retail replay above (and here), the cached base still equals a fresh parse."""
    writes = 0
    for task in RETAIL_DB_TASKS:
        writes += changes_something(RETAIL, task)
    assert writes >= 100  # nearly every retail task asks for a change
    fresh = load_retail_db()
    assert RETAIL.load_db() == fresh


# --------------------------------------------------------------------------- gold replays through the env
BYE = "Thank you for contacting us. Goodbye!"


def play(env: Tau2Env, task: Tau2Task, steps: list) -> dict:
    env.reset(seed=0, options={"task_id": task.id})
    for action in steps + [BYE]:
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return info
    raise AssertionError(f"episode of {task.id} did not end")


@pytest.fixture(scope="module")
def telecom_env() -> Tau2Env:
    return Tau2Env("telecom", max_turns=30)


@pytest.mark.parametrize("task", TELECOM_TASKS, ids=lambda t: f"telecom-{t.id}")
def test_telecom_gold_replay_through_the_scripted_user_scores_one(telecom_env: Tau2Env, task: Tau2Task) -> None:
    """The user-side gold actions are asked of the user, who runs them on the phone."""
    info = play(telecom_env, task, gold_steps(task))
    assert info["reward"] == 1.0 and info["end_reason"] in ("user_stop", "transfer"), info["reward_info"]
    user_calls = [(t.tool, t.arguments) for t in telecom_env.episode.world.conversation.tool_calls()
                  if t.requestor == "user"]
    for action in task.gold_actions:
        if action.requestor == "user":
            assert (action.name, action.arguments) in user_calls
    if any(a.requestor == "user" for a in task.gold_actions):  # the agent alone cannot fix the phone
        agent_only = [s for s, a in zip(gold_steps(task), task.gold_actions) if a.requestor == "assistant"]
        assert play(telecom_env, task, agent_only)["reward"] == 0.0


def test_a_device_request_round_trips_to_the_same_call() -> None:
    arguments = {"app_name": "messaging", "permission": "sms, (storage)", "n": 2.0, "flags": [1, None]}
    message = "First this. " + ask_user_to("grant_app_permission", arguments) + " Then tell me."
    assert requested_calls(message, {"grant_app_permission"}) == [("grant_app_permission", arguments)]
    assert requested_calls("toggle_data() and then reboot_device()", {"reboot_device", "toggle_data"}) == [
        ("toggle_data", {}), ("reboot_device", {})]
    assert requested_calls("run make_payment(amount=) or other_tool()", {"make_payment"}) == []
