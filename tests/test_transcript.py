"""One transcript per episode: the env writes each call before dispatch and its result after,
the conversation layer adds the messages, and what an expert is shown is rendered from it."""
from __future__ import annotations

import gymnasium as gym
import pytest

from orchestra_env.envs.tau2 import Tau2Env, Tau2World
from orchestra_env.envs.toolscale import ToolScaleEnv
from orchestra_env.episode import Episode
from orchestra_env.experts.base import ExpertRequest, ExpertResponse
from orchestra_env.preferences import Preference
from orchestra_env.tasks import Task
from orchestra_env.transcript import AgentMessage, ToolCallTurn, ToolResultTurn, UserMessage


class RecordingExpert:
    """An expert backend that gives the same advice every time and keeps every request."""

    def __init__(self) -> None:
        self.seen: list[ExpertRequest] = []

    def complete(self, request: ExpertRequest) -> ExpertResponse:
        self.seen.append(request)
        return ExpertResponse("Check the reservation, then ask the user to confirm.", 30, 10, 0.1)


def alias(env: gym.Env, role: str) -> str:
    """The catalogue's first alias of a role (an allowed value of the tools' model argument)."""
    return env.unwrapped.catalogue.aliases_for(role)[0].name


def in_order(text: str, parts: list[str]) -> bool:
    """Whether every part occurs in ``text``, each after the previous one."""
    at = 0
    for part in parts:
        found = text.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


def test_call_expert_sees_the_whole_tau2_conversation_in_order():
    expert = RecordingExpert()
    env = Tau2Env("airline", experts=expert, charge_orchestrator=False)
    obs, _ = env.reset(seed=0, options={"task_id": "0"})
    opening = obs["output"].removeprefix("User: ")
    obs, *_ = env.step("Could you give me your user id?")
    reply = obs["output"].removeprefix("User: ")
    lookup, *_ = env.step({"tool": "get_user_details", "arguments": {"user_id": "emma_kim_9957"}})
    missing, *_ = env.step({"tool": "get_reservation_details", "arguments": {"reservation_id": "NOPE00"}})
    obs, _, _, _, info = env.step({"tool": "call_expert",
                                   "arguments": {"expert": alias(env, "expert"),
                                                 "question": "What next?"}})
    assert info["error"] is None and obs["output"].startswith("Expert advice")
    assert "cancel reservation EHGLP3" in opening and "emma_kim_9957" in reply
    assert '"emma_kim_9957"' in lookup["output"] and "not found" in missing["output"]

    (request,) = expert.seen
    prompt = request.messages[-1]["content"]
    assert in_order(prompt, [opening, "Could you give me your user id?", reply,
                             lookup["output"], missing["output"], "Question: What next?"])
    # the env's plumbing (respond's relay, the expert call itself) is not shown twice
    assert prompt.count("Could you give me your user id?") == 1 and "call_expert" not in prompt


def test_the_tau2_evaluator_reads_the_same_transcript_less_the_plumbing():
    env = Tau2Env("airline", experts=RecordingExpert(), charge_orchestrator=False)
    env.reset(seed=0, options={"task_id": "0"})
    env.step("Could you give me your user id?")
    env.step({"tool": "get_user_details", "arguments": {"user_id": "emma_kim_9957"}})
    env.step({"tool": "get_user_details", "arguments": {}})  # bad arguments: still a call made, as in tau2
    env.step({"tool": "toggle_airplane_mode", "arguments": {}})  # not an airline tool: not a call made
    env.step({"tool": "call_expert", "arguments": {"expert": alias(env, "expert")}})
    world = env.episode.world_as(Tau2World)
    transcript = env.episode.transcript
    assert [t.tool for t in transcript if isinstance(t, ToolCallTurn)] == [
        "respond", "get_user_details", "get_user_details", "toggle_airplane_mode", "call_expert"]
    assert [t.tool for t in world.conversation.tool_calls()] == ["get_user_details", "get_user_details"]
    assert world.conversation.agent_messages() == ["Could you give me your user id?"]
    assert len(world.conversation.user_messages()) == 2
    # every turn of the conversation is a turn of the transcript (a view, not a copy)
    assert all(any(t is u for u in transcript) for t in world.conversation)


def test_toolscale_expert_sees_the_request_and_the_lookup():
    expert = RecordingExpert()
    env = ToolScaleEnv("railway", num_tasks=3, experts=expert, charge_orchestrator=False)
    obs, _ = env.reset(seed=0, options={"task_index": 0})
    opening = obs["output"].removeprefix("User: ")
    action = env.tasks[0].metadata["actions"][0]
    lookup, *_ = env.step({"tool": action["name"], "arguments": action["arguments"]})
    env.step({"tool": "call_expert", "arguments": {"expert": alias(env, "expert"),
                                                   "question": "Done?"}})
    prompt = expert.seen[-1].messages[-1]["content"]
    assert in_order(prompt, [opening, f"[agent calls {action['name']}", lookup["output"], "Question: Done?"])


def test_a_frames_episode_writes_call_then_result_for_every_step():
    env = gym.make("Orchestra/FRAMES-v0", charge_orchestrator=False, max_turns=10)
    env.reset(seed=0, options={"task_index": 0})
    actions = [
        {"tool": "search", "arguments": {"query": "first woman prime minister"}},
        "not an action",
        {"tool": "nope", "arguments": {}},
        {"tool": "enhance_reasoning", "arguments": {"model": alias(env, "reasoner")}},
        {"tool": "answer", "arguments": {"model": alias(env, "answer")}},
    ]
    outputs, errors = [], []
    for action in actions:
        obs, _, terminated, _, info = env.step(action)
        outputs.append(obs["output"])
        errors.append(info["error"])
    assert terminated
    turns = list(env.unwrapped.episode.transcript)
    calls = [t for t in turns if isinstance(t, ToolCallTurn)]
    results = [t for t in turns if isinstance(t, ToolResultTurn)]
    assert not any(isinstance(t, (UserMessage, AgentMessage)) for t in turns)
    # a parsed call: its call turn, then its result turn, both stamped with the step
    assert [(type(t).__name__, t.step) for t in turns] == [
        ("ToolCallTurn", 1), ("ToolResultTurn", 1),
        ("ToolResultTurn", 2),  # unparsable: nothing was called, the error is the result
        ("ToolCallTurn", 3), ("ToolResultTurn", 3),
        ("ToolCallTurn", 4), ("ToolResultTurn", 4),
        ("ToolCallTurn", 5), ("ToolResultTurn", 5),
    ]
    assert [c.tool for c in calls] == ["search", "nope", "enhance_reasoning", "answer"]
    assert calls[0].arguments == {"query": "first woman prime minister"}
    assert [r.output for r in results] == outputs and [r.error for r in results] == errors
    assert results[1].tool is None and results[1].error.startswith("parse_error")
    assert results[2].error == "unknown_tool" and results[3].model == actions[3]["arguments"]["model"]


def test_qa_experts_read_the_successful_outputs_as_before():
    """A QA expert's context is the evidence: the outputs of successful calls, tagged with
    their tool, newest kept when too long (what ``Episode.evidence`` held before)."""
    env = gym.make("Orchestra/FRAMES-v0", charge_orchestrator=False, max_turns=10)
    env.reset(seed=0, options={"task_index": 1})
    search, *_ = env.step({"tool": "search", "arguments": {"query": "capital"}})
    env.step({"tool": "nope", "arguments": {}})
    second, *_ = env.step({"tool": "search", "arguments": {"query": "river"}})
    episode = env.unwrapped.episode
    assert episode.context() == f"[search] {search['output']}\n\n[search] {second['output']}"
    assert episode.context(max_chars=len(second["output"]) + 20) == f"[search] {second['output']}"


def _catalogue_with_budget(env: gym.Env, model: str, tokens: int) -> dict:
    cat = env.unwrapped.catalogue
    return {"orchestrator": cat.orchestrator,
            "models": {n: {"price_in": m.price_in, "price_out": m.price_out,
                           **({"context_tokens": tokens} if n == model else {})} for n, m in cat.models.items()},
            "aliases": {n: {"role": a.role, "model": a.model, "latency_s": a.latency_s} for n, a in cat.aliases.items()}}


def test_documents_mode_shows_experts_every_retrieved_passage_up_to_the_models_budget():
    """``expert_context="documents"`` (ToolOrchestra's harness): the policy still sees the top
    ``search_k`` passages, but an expert is shown every passage each search kept, in full,
    once each (a search's best last), then the other outputs, cut to the called model's
    ``context_tokens`` from the front."""
    recorder = RecordingExpert()
    env = gym.make("Orchestra/FRAMES-v0", charge_orchestrator=False, max_turns=10, search_k=3, search_keep=40,
                   expert_context="documents", experts=recorder)
    env.reset(seed=0, options={"task_index": 1})
    first, *_ = env.step({"tool": "search", "arguments": {"query": "capital city"}})
    env.step({"tool": "search", "arguments": {"query": "capital city"}})  # the same passages again
    env.step({"tool": "python", "arguments": {"code": "print(6 * 7)"}})
    assert first["output"].count("\n[") <= 3  # the policy's view: top 3
    results = [t for t in env.unwrapped.episode.transcript if isinstance(t, ToolResultTurn)]
    kept = results[0].documents
    assert len(kept) == 40 and results[1].documents == kept
    reasoner = alias(env, "reasoner")
    env.step({"tool": "enhance_reasoning", "arguments": {"model": reasoner}})
    prompt = recorder.seen[-1].messages[-1]["content"]
    assert prompt.count("Doc ") == 40 and all(doc in prompt for doc in kept)  # all kept, once each
    assert in_order(prompt, ["Documents:", kept[-1], kept[0], "42"])  # best last, then the code output
    # the same episode under a small budget for that model: only the newest part is shown
    model = env.unwrapped.catalogue.aliases[reasoner].model
    small = gym.make("Orchestra/FRAMES-v0", charge_orchestrator=False, max_turns=10, search_k=3, search_keep=40,
                     expert_context="documents", experts=recorder,
                     catalogue=_catalogue_with_budget(env, model, 500))
    small.reset(seed=0, options={"task_index": 1})
    small.step({"tool": "search", "arguments": {"query": "capital city"}})
    small.step({"tool": "enhance_reasoning", "arguments": {"model": reasoner}})
    context = recorder.seen[-1].messages[-1]["content"].split("Information gathered so far:\n", 1)[1]
    context = context.split("\n\nQuestion:", 1)[0]
    assert context.startswith("Documents:\n") and len(context) == len("Documents:\n") + 4 * 500
    assert context.endswith(kept[0][-50:])  # the newest search's best passage is what stays


def test_the_default_expert_context_is_the_evidence_and_records_no_documents():
    env = gym.make("Orchestra/FRAMES-v0", charge_orchestrator=False, max_turns=10)
    env.reset(seed=0, options={"task_index": 1})
    env.step({"tool": "search", "arguments": {"query": "capital"}})
    assert all(not t.documents for t in env.unwrapped.episode.transcript if isinstance(t, ToolResultTurn))


def test_a_tool_meets_the_wrong_world_with_a_clear_error():
    episode = Episode(task=Task("t", "frames", "q?", "a"), seed=0, preference=Preference.from_any("accuracy"))
    with pytest.raises(TypeError, match="Tau2World world; the episode has NoneType"):
        episode.world_as(Tau2World)
