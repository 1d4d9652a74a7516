"""ToolScale's simulated customers, on the shared conversation layer
(:mod:`orchestra_env.domains.conversation`).

A generated task's ``question`` is the customer's whole request, in the first person
("Hi, my email is ... Please change ..."): the scripted user says it at once; the LLM
user is given it as its scenario and words it itself.
"""
from __future__ import annotations

import re

from orchestra_env.domains.conversation import STOP, Dialogue, LLMUser, UserReply
from orchestra_env.experts.base import Expert
from orchestra_env.tasks import Task

FAREWELL_RE = re.compile(r"\b(good ?bye|bye|farewell|have a (?:nice|good|great) (?:day|evening))\b|###STOP###",
                         re.IGNORECASE)
CONFIRM_RE = re.compile(r"\b(confirm|proceed|go ahead|shall i|should i|do you want|would you like|ok\?|okay\?)\b",
                        re.IGNORECASE)


class ToolScaleScriptedUser:
    """A deterministic user: states the whole request at once, says yes to confirmation
    questions, and hangs up when the agent says goodbye. No LLM, no randomness, so rewards
    depend on the policy only."""

    def __init__(self, task: Task) -> None:
        self.task = task

    def opening(self, dialogue: Dialogue) -> UserReply:
        return UserReply(self.task.question)

    def reply(self, message: str, dialogue: Dialogue) -> UserReply:
        if FAREWELL_RE.search(message):
            return UserReply(f"Thanks, goodbye. {STOP}")
        if CONFIRM_RE.search(message):
            return UserReply("Yes, please go ahead.")
        return UserReply("Thanks. Everything I know is in my first message; please complete my request.")


def llm_user(task: Task, expert: Expert, model: str, seed: int = 0) -> LLMUser:
    """An LLM playing the customer of a generated task (the shared :class:`LLMUser`)."""
    scenario = ("You want customer service to do this for you. It is everything you know; say it in "
                f"your own words and answer the agent's questions from it:\n{task.question}")
    return LLMUser(scenario, expert, model, seed=seed)
