"""The Bayes router: the best any policy can do in the simulated QA world without seeing the draw.

It knows what the simulator knows *before* an episode is drawn (``calibration.yaml`` merged with
``fitted.yaml``: each model's skill per benchmark and category, the evidence boost, the rule by
which a reasoner states a claim) and the task's benchmark and categories. It never sees the
episode's draw: it calls no tool on a copy of the episode (the lookahead ``oracle`` does), and
it never reads the gold answer of the task it is routing.

The simulator's one hidden bit that matters for routing is ``E``: whether the context an
expert is shown already states the gold answer (evidence, ``contains_answer``). The router keeps
a belief ``b = P(E = 1 | what it has seen)`` and updates it turn by turn:

* ``answer`` with model ``a``: P(right) = s_a + (1 - s_a) * boost * b         (exact)
* ``enhance_reasoning`` with ``r`` (s = s_r, q = s + (1 - s) * boost): a right reasoner states the
  gold as a derived fact (E becomes 1); a wrong one says "could not pin down" half the time and
  states a wrong claim otherwise. The output shows which of the two *signals* happened
  (a claim or none), so the belief is filtered exactly on it:                 (exact)
  P(no claim) = [b (1 - q) + (1 - b)(1 - s)] / 2, after which b' = b (1 - q) / (2 P(no claim));
  after a claim, b' = [b (q + (1 - q)/2) + (1 - b) s] / P(claim).
* ``search`` with model ``m`` after the search multiset M: P(E' = 1 | E = 0) =
  (e(M + m) - e(M)) / (1 - e(M)), where e(M) is the chance that searches M put the gold answer in
  the context. That depends on the BM25 index and the corpus, not on a closed form, so e is
  **estimated by Monte Carlo** on *train-split* tasks with fresh seeds (:meth:`BayesRouter.fit`).
* Each call's dollars and seconds (the orchestrator's own tokens included when the env bills them)
  are Monte Carlo means on train tasks too: dollars keyed by the item and the number of searches
  before it (search results dominate the context a later call is billed for), seconds by the item
  alone (the simulator's latency does not depend on the prompt). Enough samples matter: the DP
  favours whichever plan's estimate came out low (see :func:`fit_world`).

With a reward linear in correct, cost and latency (``CostLatencyPenalty``), the router then solves
the finite-horizon problem exactly by dynamic programming over (searches so far, belief, turns
left) and picks the action of highest expected reward-to-go. ``toolorchestra``'s cap at 0.8 is
ignored in planning (its penalty is far below the cap in this world).

What it is a limit *of*: policies that know the calibration and the categories and read the
reasoner's signal. A policy could still beat it on a task whose retrieval success it predicts
from the question's words (e is averaged over train tasks, not per question); the benchmark
reports how close the lookahead oracle, which sees the draw, gets above it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations_with_replacement
from typing import Any, Mapping

import gymnasium as gym
import numpy as np

from orchestra_env.experts.simulated import Calibration, SimulatedExpert, contains_answer
from orchestra_env.wrappers import CostLatencyPenalty, PenaltyWeights

from agents.baselines import MenuPolicy
from agents.menu import MenuItem, ToolMenu

NO_CLAIM_MARKERS = ("could not pin down", "cannot pin down")
MAX_SEARCHES = 3  # searches beyond this many add no modelled evidence (e is estimated up to here)
BELIEF_DECIMALS = 6  # the DP memoises on the rounded belief


@dataclass
class WorldModel:
    """What :meth:`BayesRouter.fit` measured on train tasks (fresh draws), plus the calibration."""

    calibration: Calibration
    evidence: dict[tuple[str, ...], float]  # sorted search aliases -> P(context holds the gold)
    cost: dict[tuple[str, int], float]  # (item label, searches before) -> mean $ of the call
    latency: dict[str, float]  # item label -> mean seconds (they do not depend on the context)
    n_tasks: int = 0
    models: dict[str, str] = field(default_factory=dict)  # alias -> model

    def step_cost(self, label: str, searches: int) -> tuple[float, float]:
        return self.cost[(label, min(searches, MAX_SEARCHES))], self.latency[label]


def _simulator(env: gym.Env) -> SimulatedExpert:
    pool = env.unwrapped.experts
    sim = getattr(pool, "default", pool)
    if not isinstance(sim, SimulatedExpert) or getattr(pool, "backends", {}):
        raise ValueError("the Bayes router knows the *simulated* pool's calibration; this env's pool is "
                         f"{pool!r}. Build the env with experts=None (all simulated).")
    return sim


def penalty_weights(env: gym.Env) -> tuple[PenaltyWeights, bool]:
    """The reward's weights, read from the env's ``CostLatencyPenalty`` (or the raw outcome)."""
    while isinstance(env, gym.Wrapper):
        if isinstance(env, CostLatencyPenalty):
            return env.weights, env.cap is not None
        env = env.env
    return PenaltyWeights(1.0, 0.0, 0.0), False


def fit_world(env: gym.Env, n_tasks: int = 80, seed: int = 10_000, n_cost_tasks: int | None = None) -> WorldModel:
    """Monte Carlo estimates of search evidence (on ``n_tasks`` tasks) and of each call's mean
    dollars and seconds (on the first ``n_cost_tasks`` of them, default all) on ``env``'s tasks,
    which should be the train split.

    Why so many cost samples: the DP picks the plan whose *estimated* penalty is lowest, so a
    noisy estimate is not only noisy but biased in the plan's favour (the winner's curse): with
    a few tasks per (item, searches) key the plan's planned $ and seconds fell well below what it
    was billed. A call's seconds do not depend on what it is shown (the simulator draws them around
    the model's mean latency), so latency is pooled over the number of searches before the call;
    its dollars grow with the context (search results, re-read by the orchestrator too) and stay
    keyed by it.

    Seeds start at ``seed`` (far from evaluation seeds); every episode is a fresh draw.
    """
    base = env.unwrapped
    sim = _simulator(env)
    menu = ToolMenu.from_env(env)
    searches = [it for it in menu.items if it.tool == "search"]
    rng = np.random.default_rng(seed)
    tasks = rng.choice(len(base.tasks), size=min(n_tasks, len(base.tasks)), replace=False)
    n_cost_tasks = len(tasks) if n_cost_tasks is None else n_cost_tasks
    evidence: dict[tuple[str, ...], list[float]] = {(): []}
    for k in range(1, MAX_SEARCHES + 1):
        for combo in combinations_with_replacement([s.label for s in searches], k):
            evidence[combo] = []
    cost: dict[tuple[str, int], list[float]] = {}
    latency: dict[str, list[float]] = {}
    by_label = {it.label: it for it in menu.items}
    cheapest_search = menu.by_price(searches)[0] if searches else None
    episode_seed = seed
    for j, t in enumerate(tasks):
        for combo in evidence:  # search evidence of each multiset, in sorted order
            episode_seed += 1
            obs, _ = env.reset(seed=episode_seed, options={"task_index": int(t)})
            for label in combo:
                obs, *_ = env.step(by_label[label].action(obs["task"]))
            task = base.episode.task
            evidence[combo].append(float(contains_answer(base.episode.context(24_000), task)))
        if j >= n_cost_tasks:
            continue
        for k in range(MAX_SEARCHES + 1 if cheapest_search else 1):  # each item after k searches
            episode_seed += 1
            obs, _ = env.reset(seed=episode_seed, options={"task_index": int(t)})
            for _ in range(k):
                obs, *_ = env.step(cheapest_search.action(obs["task"]))  # type: ignore[union-attr]
            after_k = copy.deepcopy(base.episode)  # every item is billed from the same k searches
            for item in menu.items:
                base.episode = copy.deepcopy(after_k)
                _, _, _, _, info = env.step(item.action(obs["task"]))
                cost.setdefault((item.label, k), []).append(float(info["cost_usd"]))
                latency.setdefault(item.label, []).append(float(info["latency_s"]))
    # evidence only accumulates in the context: enforce monotonicity against MC noise
    e = {combo: float(np.mean(v)) for combo, v in evidence.items()}
    for combo in sorted(e, key=len):
        for i in range(len(combo)):
            sub = combo[:i] + combo[i + 1:]
            e[combo] = max(e[combo], e.get(sub, 0.0))
    models = {it.alias: base.catalogue.aliases[it.alias].model for it in menu.items if it.alias}
    return WorldModel(sim.calibration, e, {k: float(np.mean(v)) for k, v in cost.items()},
                      {k: float(np.mean(v)) for k, v in latency.items()}, len(tasks), models)


class BayesRouter(MenuPolicy):
    """Expected-reward-maximising router over the env's menu (see the module docstring).

    ``world`` comes from :func:`fit_world` on a *train-split* env; the router then acts on any
    split of the same benchmark. ``weights`` default to the acting env's ``CostLatencyPenalty``.
    """

    def __init__(self, world: WorldModel, weights: PenaltyWeights | None = None, seed: int = 0,
                 use_categories: bool = True) -> None:
        super().__init__(seed)
        self.world = world
        self.use_categories = use_categories  # False: skills at the benchmark's average (what a
        # learner that cannot infer the task's categories from its text can know)
        self.fixed_weights = weights
        self.weights = weights or PenaltyWeights()
        self.belief = 0.0
        self.searched: tuple[str, ...] = ()
        self._skills: dict[str, float] = {}
        self.predicted_value = 0.0  # the DP's expected return at the episode's start
        # (expected reward, correct, $, seconds) of each begun episode's plan, before any draw:
        # what a benchmark or test sets against the realised means
        self.plans: list[tuple[float, float, float, float]] = []
        self.avoid: set[str] = set()  # tools/aliases the episode's preference forbids

    def begin(self, env: gym.Env, obs: Mapping[str, Any], info: Mapping[str, Any]) -> None:
        super().begin(env, obs, info)
        if self.fixed_weights is None:
            self.weights, _ = penalty_weights(env)
        # the user's preference is part of the observation: aliases it forbids leave the plan
        self.avoid = set(env.unwrapped.episode.preference.avoid)
        task = env.unwrapped.episode.task  # read for its benchmark and categories only
        cal = self.world.calibration
        categories = task.categories if self.use_categories else ()
        self._skills = {alias: cal.skill(model, task.benchmark, categories)
                        for alias, model in self.world.models.items()}
        self.belief, self.searched, self._last = 0.0, (), None
        self._value.cache_clear()
        self._terms.cache_clear()
        self.predicted_value = self._value((), 0.0, int(env.unwrapped.max_turns))[0]
        self.plans.append((self.predicted_value, *self.planned_terms()))

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> Any:
        self._observe(obs)
        return super().act(obs, info)

    def _observe(self, obs: Mapping[str, Any]) -> None:
        """Filter the belief on the last call's visible signal."""
        item, self._last = getattr(self, "_last", None), None
        if item is None:
            return
        if item.tool == "search":
            self.belief = self._after_search(self.searched, self.belief, item.label)
            self.searched = tuple(sorted(self.searched + (item.label,)))
        elif item.tool == "enhance_reasoning":
            claim = not any(m in obs["output"].lower() for m in NO_CLAIM_MARKERS)
            self.belief = self._after_reasoner(self.belief, item.alias or "")[1 if claim else 2]

    def choose(self, obs: Mapping[str, Any]) -> MenuItem:
        assert self.env is not None
        turns_left = int(self.env.unwrapped.max_turns) - int(obs["spent"][0])
        _, label = self._value(self.searched, round(self.belief, BELIEF_DECIMALS), turns_left)
        item = next(it for it in self.menu.items if it.label == label)  # type: ignore[union-attr]
        self._last = item
        return item

    # -- the model --------------------------------------------------------------------------

    def _penalty(self, label: str, searches: int) -> float:
        c, l = self.world.step_cost(label, searches)
        w = self.weights
        return w.beta * c / w.cost_scale + w.gamma * l / w.latency_scale

    def _after_search(self, searched: tuple[str, ...], b: float, label: str) -> float:
        if len(searched) >= MAX_SEARCHES:
            return b
        e = self.world.evidence
        before, after = e[searched], e[tuple(sorted(searched + (label,)))]
        inc = 0.0 if before >= 1.0 else max(0.0, (after - before) / (1.0 - before))
        return b + (1.0 - b) * inc

    def _after_reasoner(self, b: float, alias: str) -> tuple[float, float, float]:
        """(P(no claim), belief after a claim, belief after no claim)."""
        s = self._skills[alias]
        q = s + (1.0 - s) * self.world.calibration.evidence_boost
        p_none = 0.5 * (b * (1 - q) + (1 - b) * (1 - s))
        b_none = 0.5 * b * (1 - q) / p_none if p_none > 0 else b
        p_claim = 1.0 - p_none
        b_claim = (b * (q + 0.5 * (1 - q)) + (1 - b) * s) / p_claim if p_claim > 0 else b
        return p_none, min(1.0, b_claim), min(1.0, b_none)

    def action_values(self, searched: tuple[str, ...] = (), b: float = 0.0, turns_left: int | None = None
                      ) -> dict[str, float]:
        """Expected reward-to-go of each allowed item now (then acting optimally): how far the
        best plan is from the next best, i.e. how much a learner must resolve. Call after ``begin``."""
        assert self.env is not None and self.menu is not None, "call begin(env, obs, info) first"
        turns = int(self.env.unwrapped.max_turns) if turns_left is None else turns_left
        values = {item.label: self._q(item, searched, round(b, BELIEF_DECIMALS), turns) for item in self.menu.items
                  if item.alias not in self.avoid and item.tool not in self.avoid}
        return {k: v for k, v in values.items() if v is not None}

    def _p_right(self, item: MenuItem, b: float) -> float:
        s = self._skills[item.alias or ""]
        return s + (1 - s) * self.world.calibration.evidence_boost * b

    def _successors(self, item: MenuItem, searched: tuple[str, ...], b: float
                    ) -> list[tuple[float, tuple[str, ...], float]] | None:
        """(probability, searches, rounded belief) after a non-final ``item`` (None: not modelled)."""
        if item.tool == "search":
            b2 = round(self._after_search(searched, b, item.label), BELIEF_DECIMALS)
            after = tuple(sorted(searched + (item.label,))) if len(searched) < MAX_SEARCHES else searched
            return [(1.0, after, b2)]
        if item.tool == "enhance_reasoning":
            p_none, b_claim, b_none = self._after_reasoner(b, item.alias or "")
            return [(1 - p_none, searched, round(b_claim, BELIEF_DECIMALS)),
                    (p_none, searched, round(b_none, BELIEF_DECIMALS))]
        return None

    def _q(self, item: MenuItem, searched: tuple[str, ...], b: float, turns_left: int) -> float | None:
        """Expected reward-to-go of ``item`` now, then the optimal plan (None: a tool not modelled)."""
        q = -self._penalty(item.label, len(searched))
        if item.tool == "answer":
            return q + self.weights.alpha * self._p_right(item, b)
        nexts = self._successors(item, searched, b)
        if nexts is None:
            return None
        if turns_left == 1:
            return q  # the episode is truncated unanswered: outcome 0, the call still billed
        return q + sum(p * self._value(m, b2, turns_left - 1)[0] for p, m, b2 in nexts)

    def planned_terms(self) -> tuple[float, float, float]:
        """Expected (correct, $, seconds) of the plan from the episode's start: what
        ``predicted_value`` is made of, to set against realised means (call after ``begin``)."""
        assert self.env is not None
        return self._terms((), 0.0, int(self.env.unwrapped.max_turns))

    @lru_cache(maxsize=200_000)
    def _terms(self, searched: tuple[str, ...], b: float, turns_left: int) -> tuple[float, float, float]:
        _, label = self._value(searched, b, turns_left)
        if not label:
            return 0.0, 0.0, 0.0
        item = next(it for it in self.menu.items if it.label == label)  # type: ignore[union-attr]
        cost, latency = self.world.step_cost(label, len(searched))
        if item.tool == "answer":
            return self._p_right(item, b), cost, latency
        terms = np.array([0.0, cost, latency])
        if turns_left > 1:
            for p, m, b2 in self._successors(item, searched, b) or []:
                terms += p * np.array(self._terms(m, b2, turns_left - 1))
        return float(terms[0]), float(terms[1]), float(terms[2])

    @lru_cache(maxsize=200_000)
    def _value(self, searched: tuple[str, ...], b: float, turns_left: int) -> tuple[float, str]:
        """(max expected reward-to-go, the label that reaches it)."""
        assert self.menu is not None
        if turns_left <= 0:
            return 0.0, ""
        best, best_label = -np.inf, ""
        for item in self.menu.items:
            if item.alias in self.avoid or item.tool in self.avoid:
                continue
            q = self._q(item, searched, b, turns_left)
            if q is not None and q > best + 1e-12:
                best, best_label = q, item.label
        return float(best), best_label

    def __hash__(self) -> int:  # lru_cache on a method keys on self
        return id(self)


def bayes_router(train_env: gym.Env, n_tasks: int = 80, seed: int = 10_000, n_cost_tasks: int | None = None,
                 weights: PenaltyWeights | None = None) -> BayesRouter:
    """Fit the world model on ``train_env`` (train split) and return the router."""
    return BayesRouter(fit_world(train_env, n_tasks, seed, n_cost_tasks), weights)


__all__ = ["BayesRouter", "WorldModel", "bayes_router", "fit_world", "penalty_weights"]
