"""alpha-UMi: the converter's role split, GLPFT's per-role adapters, and that training helps.

One small GLPFT run (tiny random-weight Qwen3, CPU) is shared by the training tests: ToolScale
bank "delete" tasks (2-3 gold calls, then a goodbye), 16 training trajectories. The learning
rates are the paper's x100 (a random-weight model learns nothing in a few dozen steps at 1e-5).
"""
from __future__ import annotations

import json

import pytest

from agents.multi_agent import data, metrics, roles
from agents.multi_agent.data import Step, Trajectory, split_trajectory
from agents.multi_agent.roles import END, PromptConfig

TOOLS = {"get_card": {"name": "get_card"}, "delete_card": {"name": "delete_card"}}


def known_trajectory() -> Trajectory:
    """A call, a call to a tool that does not exist, a call, then the conclusion."""
    return Trajectory("hand", "t0", "remove card C1", dict(TOOLS), [
        Step("look it up", {"name": "get_card", "arguments": {"card_id": "C1"}}, '{"card_id": "C1"}'),
        Step("try a ghost", {"name": "ghost_tool", "arguments": {}}, "Unknown tool"),
        Step("delete it", {"name": "delete_card", "arguments": {"card_id": "C1"}}, "Deleted card C1."),
        Step("done", conclusion="Card C1 is removed. Goodbye!"),
    ])


# ----------------------------------------------------------------------------- converter


def test_converter_splits_a_known_trajectory_exactly_as_specified() -> None:
    cfg = PromptConfig.tiny()
    out = split_trajectory(known_trajectory(), cfg)
    call = lambda n, a: roles.format_call(n, a)  # noqa: E731
    # planner: every planner turn except the one before the hallucinated call
    assert [e.completion for e in out["planner"]] == [
        "look it up\nNext: caller" + END, "delete it\nNext: caller" + END, "done\nNext: conclusion" + END]
    assert [e.step for e in out["planner"]] == [0, 2, 3]
    # caller: every call turn, prompted with the preceding thought
    assert [e.completion for e in out["caller"]] == [
        call("get_card", {"card_id": "C1"}) + END, call("ghost_tool", {}) + END, call("delete_card", {"card_id": "C1"}) + END]
    assert [e.prompt.endswith(f"thought: {t}\ncaller: ") for e, t in zip(out["caller"], ["look it up", "try a ghost", "delete it"])] == [True] * 3
    # summarizer: the conclusion turn only, after the planner's last thought
    assert [e.completion for e in out["summarizer"]] == ["Card C1 is removed. Goodbye!" + END]
    assert out["summarizer"][0].prompt.endswith("observation: Deleted card C1.\nassistant: done\nconclusion: ")
    # backbone: thought + call merged, and thought + conclusion
    assert [e.completion for e in out["backbone"]] == [
        "look it up\n" + call("get_card", {"card_id": "C1"}) + END,
        "try a ghost\n" + call("ghost_tool", {}) + END,
        "delete it\n" + call("delete_card", {"card_id": "C1"}) + END,
        "done\nconclusion: Card C1 is removed. Goodbye!" + END]
    # the history every prompt shows: role prefixes, in order, each prompt ending with its cue
    last = out["backbone"][-1].prompt
    assert last.splitlines()[0] == "user: remove card C1"
    assert [ln.split(":")[0] for ln in last.splitlines() if not ln.startswith("Action Input")] == (
        ["user"] + ["assistant", "caller", "observation"] * 3 + ["assistant"])
    assert all(e.prompt.endswith(roles.CUES[r] + " ") for r, es in out.items() for e in es)


def test_encode_masks_the_prompt_and_truncates_from_the_left(tiny_tokenizer) -> None:
    ex = data.RoleExample("caller", "old " * 300 + "recent context", "Action: get_card" + END, "t", 0)
    enc = data.encode(ex, tiny_tokenizer, max_length=64)
    assert len(enc["input_ids"]) == 64
    target = tiny_tokenizer(ex.completion, add_special_tokens=False)["input_ids"] + [tiny_tokenizer.eos_token_id]
    n = sum(enc["completion_mask"])
    assert n == len(target) and enc["input_ids"][-n:] == target and enc["completion_mask"][:-n] == [0] * (64 - n)
    assert tiny_tokenizer.decode(enc["input_ids"][:-n]).endswith("recent context")  # newest prompt tokens kept


def test_parsers_follow_the_papers_inference_rules() -> None:
    assert roles.parse_plan("look up\nNext: conclusion").next == "conclusion"
    assert roles.parse_plan("no marker at all").next == "caller"  # no marker: the caller goes next
    assert roles.parse_plan("I give up\nNext: give up").next == "give up"
    call = roles.parse_call('Action: get_card\nAction Input: {"card_id": "C1"}\n<end>')
    assert call.tool == "get_card" and dict(call.arguments) == {"card_id": "C1"}
    assert isinstance(roles.parse_call("Action: get_card\nAction Input: {not json"), roles.ParseError)
    step = roles.parse_backbone("done\nconclusion: Bye!")
    assert step.call is None and step.conclusion == "Bye!"


def test_metrics_follow_the_papers_definitions() -> None:
    assert metrics.argument_f1({"a": 1, "b": 2}, {"a": 1, "b": 2}) == 1.0
    assert metrics.argument_f1({"a": 1, "b": 3}, {"a": 1, "b": 2}) == pytest.approx(0.75)  # wrong value: 0.5
    assert metrics.argument_f1({"a": 1}, {"a": 1, "b": 2}) == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert metrics.argument_f1({}, {"a": 1}) == 0.0 and metrics.argument_f1({}, {}) == 1.0
    assert metrics.rouge_l("the card is removed", "the card is removed") == 1.0
    assert metrics.rouge_l("card removed", "the card is removed") == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert metrics.rouge_l("x y", "a b") == 0.0
    lo, hi = metrics.wilson(5, 10)
    assert 0.23 < lo < 0.24 and 0.76 < hi < 0.77


def test_trajectories_round_trip_through_jsonl(tmp_path) -> None:
    path = tmp_path / "t.jsonl"
    data.save_jsonl([known_trajectory()], str(path))
    back = data.load_jsonl(str(path))
    assert back[0].to_dict() == known_trajectory().to_dict()


# ----------------------------------------------------------------------------- data from the envs


def test_toolscale_gold_trajectories_are_verified_and_end_in_a_conclusion() -> None:
    trajs = data.toolscale_trajectories("bank", 3, intents=["delete"])
    assert len(trajs) == 3
    for t in trajs:
        assert [s.conclusion is not None for s in t.steps] == [False] * (len(t.steps) - 1) + [True]
        assert t.steps[-2].call["name"].startswith("delete_") and "Deleted" in t.steps[-2].observation
        assert all(s.call["name"] in t.tools for s in t.steps[:-1])


def test_tau2_gold_trajectories_replay_with_the_scripted_user() -> None:
    trajs = data.tau2_trajectories("mock", 2)
    assert trajs and all(t.steps[-1].conclusion == data.TAU2_GOODBYE for t in trajs)


# ----------------------------------------------------------------------------- GLPFT on the tiny model
