"""The shared conversation layer: one LLM user for tau2 and ToolScale, one ``respond`` tool,
the dialogue record, and the communicate check with a domain's own matching rule."""
from __future__ import annotations

import pytest

from orchestra_env.domains.conversation import Dialogue, LLMUser, UserReply, communicated
from orchestra_env.domains.tau2.evaluation import said_in
from orchestra_env.envs.tau2 import Tau2Env
from orchestra_env.envs.toolscale import ToolScaleEnv
from orchestra_env.experts.base import ExpertRequest, ExpertResponse


class ScriptedModel:
    """An expert backend that replies in turn from a list and records every request."""

    def __init__(self, replies: list[str]) -> None:
        self.replies, self.seen = replies, []  # type: list[str], list[ExpertRequest]

    def complete(self, request: ExpertRequest) -> ExpertResponse:
        self.seen.append(request)
        return ExpertResponse(self.replies[len(self.seen) - 1], 40, 8, 0.1)


def test_toolscale_llm_user_plays_the_task_and_is_not_billed_to_the_policy():
    model = ScriptedModel(["Hello, I need help with my account.", "Bye! ###STOP###"])
    env = ToolScaleEnv("weather", num_tasks=5, user="llm", user_model="gpt-4.1", experts=model,
                       charge_orchestrator=False)
    obs, _ = env.reset(seed=0, options={"task_index": 0})
    assert obs["output"] == "User: Hello, I need help with my account."
    system = model.seen[0].messages[0]["content"]
    assert model.seen[0].role == "user" and "<scenario>" in system and env.episode.task.question in system
    _, reward, terminated, _, info = env.step("Sorry, I cannot help. Goodbye!")
    assert model.seen[1].messages[-1] == {"role": "user", "content": "Sorry, I cannot help. Goodbye!"}
    assert terminated and info["end_reason"] == "user_stop" and reward == 0.0
    assert info["user_usage"]["tokens_in"] == 80 and info["total_cost_usd"] == 0.0


def test_both_envs_use_the_same_llm_user_and_dialogue():
    for env in (Tau2Env("airline", user="llm", user_model="m", experts=ScriptedModel(["Hi."])),
                ToolScaleEnv("bank", num_tasks=3, user="llm", user_model="m", experts=ScriptedModel(["Hi."]))):
        env.reset(seed=0)
        dialogue = env.episode.world.dialogue
        assert isinstance(dialogue, Dialogue) and type(dialogue.user) is LLMUser
        assert dialogue.conversation.user_messages() == ["Hi."]
    with pytest.raises(ValueError, match="user_model"):
        ToolScaleEnv("bank", user="llm")


def test_a_user_given_as_a_function_is_built_per_episode():
    class Echo:
        def __init__(self, task) -> None:
            self.task = task

        def opening(self, dialogue: Dialogue) -> UserReply:
            return UserReply(f"task {self.task.task_id}")

        def reply(self, message: str, dialogue: Dialogue) -> UserReply:
            return UserReply(f"you said {len(dialogue.conversation.agent_messages())} things ###STOP###")

    env = ToolScaleEnv("movie", num_tasks=4, user=Echo)
    for index in (1, 2):
        obs, _ = env.reset(options={"task_index": index})
        assert obs["output"] == f"User: task {env.tasks[index].task_id}"
    obs, _, terminated, _, info = env.step("hello")
    assert obs["output"] == "User: you said 1 things ###STOP###" and terminated and info["answer"] == "hello"


def test_communicated_uses_the_domains_rule():
    messages = ["Your refund is 1,250.50 dollars", "Order #W123 is cancelled"]
    assert communicated(["1250.5", "#w123", "nope"], messages) == [True, True, False]
    # tau2's rule: substring after removing commas, no number normalisation
    assert communicated(["1250.50", "1250.5", "#w123"], messages, match=said_in) == [True, True, True]
    assert communicated(["1250.500"], messages, match=said_in) == [False]
