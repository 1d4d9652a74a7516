"""Baseline orchestrators for every Orchestra env, and :func:`evaluate`, which scores any policy.

A policy here is anything with ``begin(env, obs, info)`` (called after each reset) and
``act(obs, info) -> action``; a plain ``callable(obs) -> action`` works too. Baselines pick
from the env's :class:`~agents.menu.ToolMenu` (tool x model, arguments filled by rule):

==============  ==========================================================================
``random``      a uniformly random menu item each turn
``cheapest``    answer at once with the cheapest answer model
``strongest``   answer at once with the most expensive (strongest) answer model
``heuristic``   search once with a mid-priced search model, then answer with a mid model
``prompted``    a catalogue LLM (default ``expert-2``'s model) reads the tools and writes each
                call itself; with the simulated pool, a calibrated simulated orchestrator
``oracle``      NOT an agent: an upper bound. It sees the draw: the cheapest answer model that
                *would* be right now (the answer tool run on a copy of the episode with the
                task bound, then judged); else search and retry. The limit of model routing.
``thorough``    gather evidence (searches and reasoner calls, cheap models first) until one
                turn before the budget or its own cap, then answer with a mid model: the
                baseline that spends a turn budget
==============  ==========================================================================

Envs without an ``answer`` tool (tau2's conversational domains) fall back to the same choice
over all menu items (e.g. ``call_expert`` models).
"""
from __future__ import annotations

import copy
from collections import Counter
from typing import Any, Callable, Mapping, Protocol, Sequence

import gymnasium as gym
import numpy as np

from orchestra_env.actions import ParseError, parse_action, FORMAT_HELP
from orchestra_env.experts.base import ExpertRequest
from orchestra_env.experts.oracle import bound_task
from orchestra_env.usage import Usage

from agents.menu import MenuItem, ToolMenu

FINISH_TOOL = "answer"


class Policy(Protocol):
    def begin(self, env: gym.Env, obs: Mapping[str, Any], info: Mapping[str, Any]) -> None: ...

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> Any: ...


class MenuPolicy:
    """Base of the menu baselines: keeps the env, its menu and the task text of the episode."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.env: gym.Env | None = None
        self.menu: ToolMenu | None = None
        self.turn = 0

    def begin(self, env: gym.Env, obs: Mapping[str, Any], info: Mapping[str, Any]) -> None:
        if self.env is not env:
            self.env, self.menu = env, ToolMenu.from_env(env)
        self.turn = 0

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> Any:
        assert self.menu is not None, "call begin(env, obs, info) after each reset"
        item = self.choose(obs)
        self.turn += 1
        return item.action(obs["task"])

    def choose(self, obs: Mapping[str, Any]) -> MenuItem:
        raise NotImplementedError

    def finishers(self) -> list[MenuItem]:
        """Menu items that end an episode, cheapest first (all items if there is no answer tool)."""
        assert self.menu is not None
        return self.menu.by_price(self.menu.for_tool(FINISH_TOOL) or self.menu.items)


class RandomPolicy(MenuPolicy):
    def choose(self, obs: Mapping[str, Any]) -> MenuItem:
        assert self.menu is not None
        return self.menu.items[int(self.rng.integers(len(self.menu)))]


class CheapestPolicy(MenuPolicy):
    def choose(self, obs: Mapping[str, Any]) -> MenuItem:
        return self.finishers()[0]


class StrongestPolicy(MenuPolicy):
    """Price stands in for strength (the catalogue has no skill column)."""

    def choose(self, obs: Mapping[str, Any]) -> MenuItem:
        return self.finishers()[-1]


def _middle(items: list[MenuItem]) -> MenuItem:
    return items[(len(items) - 1) // 2]


class HeuristicPolicy(MenuPolicy):
    """Search first (a mid-priced search model writes the query), then a mid model answers."""

    def __init__(self, searches: int = 1, seed: int = 0) -> None:
        super().__init__(seed)
        self.searches = searches

    def choose(self, obs: Mapping[str, Any]) -> MenuItem:
        assert self.menu is not None
        search = self.menu.by_price(self.menu.for_tool("search"))
        if search and self.turn < self.searches:
            return _middle(search)
        return _middle(self.finishers())


class ThoroughPolicy(MenuPolicy):
    """Spend the turn budget on evidence, then answer: the baseline whose points move with ``max_turns``.

    Gathering alternates ``search`` (a model writes the query) and ``enhance_reasoning`` calls.
    The k-th call of a tool uses its k-th cheapest model, staying on the strongest once there,
    so evidence gets dearer and better as the episode goes on. A repeated call still adds
    something: the model sees everything gathered so far, and each turn has its own draw.
    Gathering stops when only one turn is left (``env.unwrapped.max_turns`` minus the turns
    spent, ``obs["spent"][0]``) or after ``max_gather`` calls; then a mid-priced answer model
    answers, so an episode always ends with an answer, never by truncation. The default cap of
    49 fills the envs' default 50-turn budget and bounds the bill of longer ones (so budgets of
    50 and 100 give the same episodes). Envs with neither tool (tau2) get the mid-priced
    finisher at once, like ``heuristic``.
    """

    GATHER_TOOLS = ("search", "enhance_reasoning")

    def __init__(self, max_gather: int | None = 49, seed: int = 0) -> None:
        super().__init__(seed)
        self.max_gather = max_gather

    def choose(self, obs: Mapping[str, Any]) -> MenuItem:
        assert self.env is not None and self.menu is not None
        turns_left = self.env.unwrapped.max_turns - int(obs["spent"][0])
        capped = self.max_gather is not None and self.turn >= self.max_gather
        ladders = [lad for lad in (self.menu.by_price(self.menu.for_tool(t)) for t in self.GATHER_TOOLS) if lad]
        if turns_left <= 1 or capped or not ladders:
            return _middle(self.finishers())
        ladder = ladders[self.turn % len(ladders)]
        return ladder[min(self.turn // len(ladders), len(ladder) - 1)]


class OracleRouter(MenuPolicy):
    """Upper bound, not an agent: the cheapest answer model that would be judged right.

    It is privileged by construction: its lookahead binds the hidden task for the simulated
    pool (:func:`~orchestra_env.experts.oracle.bound_task`) and reads the judge's verdict, which
    no deployable policy can. Report it as the ceiling of routing, never as a baseline to beat.

    Each lookahead calls the env's answer tool on a deep copy of the episode (same turn, so
    the same seeded draw the real call gets) and judges it with the env's own ``_evaluate``.
    If no model would be right, it searches (cheapest search model) and tries again, up to
    ``searches`` times, then answers with the cheapest model.
    """

    def __init__(self, searches: int = 2, seed: int = 0) -> None:
        super().__init__(seed)
        self.searches = searches

    def begin(self, env: gym.Env, obs: Mapping[str, Any], info: Mapping[str, Any]) -> None:
        if "answer" not in env.unwrapped.tools:
            raise ValueError(
                "the oracle router looks ahead through an `answer` tool; "
                f"{type(env.unwrapped).__name__} has none (conversational domains are judged on the database)"
            )
        super().begin(env, obs, info)

    def choose(self, obs: Mapping[str, Any]) -> MenuItem:
        assert self.env is not None and self.menu is not None
        base = self.env.unwrapped
        finishers = self.finishers()
        for item in finishers:
            if self._would_be_right(base, item, obs["task"]):
                return item
        search = self.menu.by_price(self.menu.for_tool("search"))
        if search and self.turn < self.searches and base.episode.turn + 1 < base.max_turns:
            return search[0]
        return finishers[0]

    @staticmethod
    def _would_be_right(base: Any, item: MenuItem, task_text: str) -> bool:
        episode = copy.deepcopy(base.episode)
        episode.turn += 1  # the turn the real call will run at
        tool = base.tools[item.tool]
        with bound_task(episode.task, episode.seed):  # privileged: the oracle sees the draw (see the class doc)
            result = tool(tool.validate(item.action(task_text)["arguments"]), episode)
        if not result.terminal:
            return False
        episode.answer = result.answer
        with bound_task(episode.task, episode.seed):
            return bool(base._evaluate(episode)["correct"])


class PromptedPolicy:
    """A catalogue LLM as the orchestrator: it reads the tool list and writes each call itself.

    Each turn it sends the model (``model``, or the model behind ``alias``) its whole
    conversation with ``role="orchestrator"``: the tool schemas, the task, every tool output.
    The request carries messages only (no task), so a real backend gets exactly what a real
    orchestrator would, and the simulated pool answers with a calibrated simulated orchestrator
    (:mod:`orchestra_env.experts.simulated_orchestrator`) that emits tool calls with arguments,
    which the env parses, bills, runs and judges like any policy's. The model's own tokens are
    priced at its catalogue price and reported in ``self.usage`` (``evaluate`` adds them). A
    reply that is not a tool call is the final answer (``answer(answer=reply)``) in envs with an
    answer tool, or a message to the user otherwise.
    """

    SYSTEM = ("You solve the user's task by calling tools, one per turn. {help}\n\nTask set: {benchmark}\n\n"
              "Tools:\n{tools}\n\n{preference}")

    def __init__(self, alias: str = "expert-2", max_tokens: int = 512, model: str | None = None,
                 seed: int = 0) -> None:
        self.alias, self.model, self.max_tokens = alias, model, max_tokens
        self.rng = np.random.default_rng(seed)  # the model's sampling: a fresh seed per episode
        self.usage = Usage()
        self.messages: list[dict[str, str]] = []
        self.env: gym.Env | None = None
        self._seed = 0

    def begin(self, env: gym.Env, obs: Mapping[str, Any], info: Mapping[str, Any]) -> None:
        base = env.unwrapped
        if not hasattr(base, "experts"):
            raise TypeError(f"{type(base).__name__} has no expert pool (env.unwrapped.experts) to prompt")
        if self.model is None and self.alias not in base.catalogue.aliases:
            raise ValueError(f"alias {self.alias!r} is not in the catalogue: {sorted(base.catalogue.aliases)}")
        if self.model is not None and self.model not in base.catalogue.models:
            raise ValueError(f"model {self.model!r} has no catalogue price: {sorted(base.catalogue.models)}")
        self.env = env
        self._seed = int(self.rng.integers(2**62))
        system = self.SYSTEM.format(help=FORMAT_HELP, benchmark=info.get("benchmark", "unknown"), tools=obs["tools"],
                                    preference=obs["preference"])
        self.messages = [{"role": "system", "content": system}, {"role": "user", "content": obs["task"]}]
        if obs["output"]:
            self.messages.append({"role": "user", "content": obs["output"]})

    @property
    def model_name(self) -> str:
        assert self.env is not None
        return self.model or self.env.unwrapped.catalogue.aliases[self.alias].model

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> Any:
        assert self.env is not None, "call begin(env, obs, info) after each reset"
        base = self.env.unwrapped
        if self.messages[-1]["role"] == "assistant" and obs["output"]:
            self.messages.append({"role": "user", "content": f"Tool output:\n{obs['output']}"})
        model = self.model_name
        request = ExpertRequest(model=model, messages=tuple(self.messages), role="orchestrator",
                                max_tokens=self.max_tokens, seed=self._seed)
        response = base.experts.complete(request)
        self.usage = self.usage + base.catalogue.model_usage(
            model, response.tokens_in, response.tokens_out, response.latency_s)
        text = response.text.strip()
        self.messages.append({"role": "assistant", "content": text})
        if isinstance(parse_action(text), ParseError) and FINISH_TOOL in base.tools:
            return {"tool": FINISH_TOOL, "arguments": {"answer": text}}
        return text


BASELINES: dict[str, Callable[[], Any]] = {
    "random": RandomPolicy,
    "cheapest": CheapestPolicy,
    "strongest": StrongestPolicy,
    "heuristic": HeuristicPolicy,
    "prompted": PromptedPolicy,
    "oracle": OracleRouter,
    "thorough": ThoroughPolicy,
}


def make_baseline(name: str, **kwargs: Any) -> Any:
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {sorted(BASELINES)}")
    return BASELINES[name](**kwargs)


class _CallablePolicy:
    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def begin(self, env: gym.Env, obs: Any, info: Any) -> None:
        pass

    def act(self, obs: Any, info: Any) -> Any:
        return self.fn(obs)


def _as_policy(policy: Any) -> Any:
    if isinstance(policy, str):
        return make_baseline(policy)
    if hasattr(policy, "act") and hasattr(policy, "begin"):
        return policy
    if callable(policy):
        return _CallablePolicy(policy)
    raise TypeError("policy must be a baseline name, an object with begin()/act(), or a callable(obs)")


def evaluation_resets(tasks: Sequence[int], n_tasks: int, seed: int) -> list[dict[str, Any]]:
    """``env.reset`` arguments of the episodes :func:`evaluate` runs: a seeded permutation of
    ``tasks`` (task indices, cycled past its length), episode ``i`` at seed ``seed + i``. Any
    scorer that uses them is paired task by task with every policy evaluated at that seed."""
    pool = np.asarray(tasks, dtype=int)
    order = pool[np.random.default_rng(seed).permutation(len(pool))]
    return [{"seed": seed + i, "options": {"task_index": int(order[i % len(pool)])}} for i in range(n_tasks)]


def evaluate(policy: Any, env_id: "str | gym.Env", n_tasks: int = 20, seed: int = 0,
             tasks: Sequence[int] | None = None, **env_kwargs: Any) -> dict[str, Any]:
    """Run ``n_tasks`` episodes on distinct tasks and summarise them.

    Tasks are a seeded permutation of the env's tasks, or of ``tasks`` (indices of them, e.g. a
    validation slice of the train split), so every policy evaluated with the same seed sees the
    same tasks. Returns ``accuracy``, ``mean_cost_usd`` and ``mean_latency_s``
    per task (the prompted policy's own calls included), ``mean_reward`` (the env's),
    ``mean_turns``, ``tool_use`` (share of calls per tool) and ``model_use`` (per alias), the
    raw counts (``tool_calls``, ``model_calls``) and ``episodes``: the per-episode values behind
    every mean (for intervals).
    """
    import orchestra_env  # noqa: F401 - registers the ids

    policy = _as_policy(policy)
    env = env_id if isinstance(env_id, gym.Env) else gym.make(env_id, **env_kwargs)
    resets = evaluation_resets(range(len(env.unwrapped.tasks)) if tasks is None else tasks, n_tasks, seed)
    correct, cost, latency, reward, turns = [], [], [], [], []
    tools: Counter[str] = Counter()
    models: Counter[str] = Counter()
    tool_names, aliases = set(env.unwrapped.tools), set(env.unwrapped.catalogue.aliases)
    try:
        for kwargs in resets:
            obs, info = env.reset(**kwargs)
            policy.begin(env, obs, info)
            before = getattr(policy, "usage", Usage())
            total, done = 0.0, False
            while not done:
                obs, r, terminated, truncated, info = env.step(policy.act(obs, info))
                total += float(r)
                done = terminated or truncated
            own = getattr(policy, "usage", Usage())
            features = info["features"]
            correct.append(float(info["correct"]))
            cost.append(features["cost_usd"] + own.cost_usd - before.cost_usd)
            latency.append(features["latency_s"] + own.latency_s - before.latency_s)
            reward.append(total)
            turns.append(info["turn"])
            for key, count in features.items():
                name = key.removeprefix("calls/")
                if key.startswith("calls/") and count:
                    (tools if name in tool_names else models if name in aliases else tools)[name] += int(count)
    finally:
        if not isinstance(env_id, gym.Env):
            env.close()
    return {
        "n_tasks": n_tasks,
        "accuracy": float(np.mean(correct)),
        "mean_cost_usd": float(np.mean(cost)),
        "mean_latency_s": float(np.mean(latency)),
        "mean_reward": float(np.mean(reward)),
        "mean_turns": float(np.mean(turns)),
        "tool_use": _shares(tools),
        "model_use": _shares(models),
        "tool_calls": dict(sorted(tools.items())),
        "model_calls": dict(sorted(models.items())),
        # per episode, for intervals (benchmarks/stats.py)
        "episodes": {"correct": correct, "cost_usd": cost, "latency_s": latency, "reward": reward, "turns": turns},
    }


def _shares(counts: Counter[str]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in sorted(counts.items())} if total else {}
