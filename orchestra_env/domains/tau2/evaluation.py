"""Scoring a finished tau2 episode exactly as tau2's evaluators do, and pass^k.

Components (each 1.0 or 0.0), multiplied over the task's ``reward_basis``:

* ``DB``: the gold actions are replayed on a fresh world (initial state applied first); the
  episode's final databases must equal that world's. The gold world is built once per task
  and process, and the comparison only looks at records either side touched
  (:func:`~orchestra_env.domains.tau2.environment.same_db`).
* ``ENV_ASSERTION``: every ``env_assertions`` function returns its ``assert_value`` on the
  episode's world.
* ``ACTION``: every gold action is matched by some tool call of the episode
  (:meth:`Action.matches`, i.e. tau2's ``compare_with_tool_call``).
* ``COMMUNICATE``: every ``communicate_info`` string occurs, case-insensitively, in one of
  the agent's messages to the user with commas removed.
* ``NL_ASSERTION``: an LLM judge (when one is configured) says every assertion holds;
  without a judge the component is *not evaluated*: it is left out of the product and named
  in ``RewardInfo.not_evaluated``, never counted as passed.

As in tau2, an episode that did not end by the user or the agent stopping (here: truncated
by ``max_turns``) scores 0, and DB/ENV are 1.0 when a task has neither gold actions nor
assertions.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

from orchestra_env.domains.conversation import Conversation, communicated
from orchestra_env.domains.tau2.domain import Tau2Domain
from orchestra_env.domains.tau2.environment import Tau2Environment
from orchestra_env.domains.tau2.tasks import Tau2Task
from orchestra_env.experts.base import Expert, ExpertRequest
from orchestra_env.model_json import first_json
from orchestra_env.usage import Usage

logger = logging.getLogger(__name__)

_GOLD: dict[tuple[str, str, bool], Tau2Environment] = {}


@dataclass
class RewardInfo:
    """The verdict and how it was reached (``breakdown`` has the components in the basis)."""

    reward: float
    breakdown: dict[str, float] = field(default_factory=dict)
    db_match: bool | None = None
    env_assertions: list[dict[str, Any]] = field(default_factory=list)
    action_checks: list[dict[str, Any]] = field(default_factory=list)
    communicate_checks: list[dict[str, Any]] = field(default_factory=list)
    nl_assertions: list[dict[str, Any]] | None = None
    not_evaluated: list[str] = field(default_factory=list)
    note: str = ""
    judge_usage: Usage = field(default_factory=Usage)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["judge_usage"] = self.judge_usage.as_dict()
        return out


def gold_environment(domain: Tau2Domain, task: Tau2Task, exact: bool = False) -> Tau2Environment:
    """The world after the task's gold actions (cached per process; never mutate it), their
    arguments passed raw (``exact``, as tau2's evaluator does) or validated."""
    key = (domain.name, task.id, exact)
    if key not in _GOLD:
        env = Tau2Environment(domain, exact=exact)
        env.apply_initial_state(task.initial_state)
        for action in task.gold_actions:
            output, failed = env.call(action.name, action.arguments, action.requestor)
            if failed:
                logger.warning("gold action %s of task %s failed: %s", action.name, task.id, output)
        _GOLD[key] = env
    return _GOLD[key]


def evaluate(
    domain: Tau2Domain,
    task: Tau2Task,
    world: Tau2Environment,
    conversation: Conversation,
    *,
    finished: bool = True,
    nl_judge: "NLAssertionJudge | None" = None,
    premature: str = "max turns reached",
) -> RewardInfo:
    """Score an episode from its final world and its conversation (tau2's ``ALL`` mode).
    An unfinished episode (truncated; solo text in exact mode, tau2's ``AGENT_ERROR``) scores
    0, as tau2's ``evaluate_simulation`` does for any end but an agent or user stop;
    ``premature`` says why in the note."""
    if not finished:
        return RewardInfo(0.0, note=f"Simulation terminated prematurely ({premature}).")
    criteria = task.evaluation_criteria
    if criteria is None:
        return RewardInfo(1.0, note="No evaluation criteria")
    basis = set(criteria.reward_basis)
    info = RewardInfo(1.0)

    if criteria.actions is None and criteria.env_assertions is None:
        env_reward = 1.0
        info.db_match = True
    else:
        info.db_match = world.same_state(gold_environment(domain, task, world.exact))
        env_reward = 1.0
        if "DB" in basis:
            info.breakdown["DB"] = float(info.db_match)
            env_reward *= float(info.db_match)
        assertion_reward = 1.0
        for assertion in criteria.env_assertions or []:
            try:
                met = world.check(assertion)
            except Exception as exc:  # noqa: BLE001 - tau2 raises; a failed assertion scores 0
                met = False
                logger.warning("env assertion %s failed to run: %s", assertion.func_name, exc)
            info.env_assertions.append({**assertion.model_dump(), "met": met})
            assertion_reward *= float(met)
        if "ENV_ASSERTION" in basis:
            info.breakdown["ENV_ASSERTION"] = assertion_reward
            env_reward *= assertion_reward

    calls = conversation.tool_calls()
    for action in criteria.actions or []:
        met = any(action.matches(c.tool or "", c.arguments or {}) for c in calls)
        info.action_checks.append({"action": action.render(), "met": met})
    action_reward = float(all(c["met"] for c in info.action_checks))

    items = criteria.communicate_info or []
    for item, met in zip(items, communicated(items, conversation.agent_messages(), match=said_in)):
        info.communicate_checks.append({"info": item, "met": met})
    communicate_reward = float(all(c["met"] for c in info.communicate_checks))

    reward = 1.0
    if basis & {"DB", "ENV_ASSERTION"}:
        reward *= env_reward
    if "ACTION" in basis:
        info.breakdown["ACTION"] = action_reward
        reward *= action_reward
    if "COMMUNICATE" in basis:
        info.breakdown["COMMUNICATE"] = communicate_reward
        reward *= communicate_reward
    if "NL_ASSERTION" in basis:
        if nl_judge is None or not criteria.nl_assertions:
            if criteria.nl_assertions:
                info.not_evaluated.append("NL_ASSERTION")
            else:
                info.breakdown["NL_ASSERTION"] = 1.0
        else:
            info.nl_assertions, info.judge_usage = nl_judge(criteria.nl_assertions, conversation, task)
            nl_reward = float(all(a["met"] for a in info.nl_assertions))
            info.breakdown["NL_ASSERTION"] = nl_reward
            reward *= nl_reward
    info.reward = reward
    return info


def said_in(message: str, info: str) -> bool:
    """tau2's COMMUNICATE rule: ``info`` is a case-insensitive substring of the message with
    its commas removed."""
    return info.lower() in message.lower().replace(",", "")


class NLAssertionJudge:
    """An LLM that reads the transcript and says which natural-language assertions hold.

    Its reply must be JSON ``[{"assertion": ..., "met": true|false, "reason": ...}, ...]``;
    an assertion missing from a readable reply, or a reply that cannot be read, counts as
    not met (and says so in ``reason``). Its tokens are reported, not charged to the policy.
    """

    INSTRUCTION = (
        "You grade a customer-service conversation between an agent and a user. For each "
        "assertion, decide from the transcript alone whether it holds. Reply with JSON only: "
        'a list of objects {"assertion": <the text>, "met": true or false, "reason": <short>}.'
    )

    def __init__(self, expert: Expert, model: str, max_chars: int = 24_000) -> None:
        self.expert, self.model, self.max_chars = expert, model, max_chars

    def __call__(self, assertions: Sequence[str], conversation: Conversation,
                 task: Tau2Task) -> tuple[list[dict[str, Any]], Usage]:
        listing = "\n".join(f"- {a}" for a in assertions)
        prompt = f"Transcript:\n{conversation.render(self.max_chars)}\n\nAssertions:\n{listing}"
        request = ExpertRequest(
            model=self.model,
            messages=({"role": "system", "content": self.INSTRUCTION}, {"role": "user", "content": prompt}),
            role="judge",
            max_tokens=1024,
        )
        response = self.expert.complete(request)
        usage = Usage(tokens_in=response.tokens_in, tokens_out=response.tokens_out, latency_s=response.latency_s)
        verdicts = _read_verdicts(response.text) if not response.error else None
        if verdicts is None:
            reason = f"judge reply unreadable: {response.error or response.text[:200]!r}"
            return [{"assertion": a, "met": False, "reason": reason} for a in assertions], usage
        by_text = {str(v.get("assertion", "")).strip(): v for v in verdicts if isinstance(v, Mapping)}
        out = []
        for i, a in enumerate(assertions):
            v = by_text.get(a.strip()) or (verdicts[i] if i < len(verdicts) and isinstance(verdicts[i], Mapping) else None)
            met = bool(v and v.get("met") is True)
            out.append({"assertion": a, "met": met, "reason": (v or {}).get("reason", "not graded")})
        return out, usage


_JSON_LIST = re.compile(r"\[.*\]", re.DOTALL)


def _read_verdicts(text: str) -> list[Any] | None:
    value = first_json(text, _JSON_LIST)
    return value if isinstance(value, list) else None


def pass_hat_k(successes_per_task: Mapping[str, Sequence[bool]] | Sequence[Sequence[bool]], k: int) -> float:
    """tau2's pass^k: the chance that k trials drawn (without replacement) from a task's
    trials all succeed, C(successes, k) / C(trials, k), averaged over tasks."""
    groups = list(successes_per_task.values()) if isinstance(successes_per_task, Mapping) else list(successes_per_task)
    if not groups:
        raise ValueError("pass_hat_k needs at least one task")
    total = 0.0
    for trials in groups:
        n, c = len(trials), sum(bool(s) for s in trials)
        if n < k:
            raise ValueError(f"Number of trials {n} is less than k {k}.")
        total += math.comb(c, k) / math.comb(n, k)
    return total / len(groups)
