"""A confidence-threshold router: the non-RL routing baseline (intent detection, RouteLLM style).

Why: the ToolOrchestra write-up contrasts trained orchestration with intent-detection routing, a
plugin that runs a route automatically when its detected intent has confidence >= 80% and falls
back otherwise. This is that router for Orchestra envs: a linear classifier over the MiniLM
embedding of the task text predicts which answer model is the cheapest one that answers the task
correctly; when the classifier's probability for its top class reaches ``threshold`` it routes
there, otherwise it calls the fallback (by default the strongest answer model). Sweeping the
threshold traces an accuracy-cost curve (``benchmarks/routing.py``).

Labels come from the train split, by running each answer model once per task in the env and
judging it (the env's own verdict): the label is the cheapest correct model, or ``NO_MODEL``
when none was right (routing those to the fallback is the best the classifier can do).

Example::

    labels = label_tasks(make_env, aliases)            # train split
    router = ThresholdRouter.fit(labels, embed=shared_embedder())
    policy = ThresholdRouterPolicy(router, threshold=0.8)
    evaluate(policy, "Orchestra/FRAMES-v0", ...)        # test split
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import gymnasium as gym
import numpy as np

from agents.baselines import MenuPolicy
from agents.menu import MenuItem

NO_MODEL = "<none>"


@dataclass(frozen=True)
class LabelledTask:
    """One train task: its text, which answer aliases were right, and the routing label."""

    task_id: str
    text: str
    correct: Mapping[str, bool]
    label: str


def label_tasks(env: gym.Env, aliases: Sequence[str], n_tasks: int | None = None,
                seed: int = 0) -> list[LabelledTask]:
    """Run ``answer(model=alias)`` for every alias on every task of ``env``'s split (or the first
    ``n_tasks``) and label each task with the cheapest alias that was judged right.

    ``aliases`` are given cheapest first. Each (task, alias) is one real episode: its draw is the
    env's, seeded by ``seed``, so labels are as noisy as the models are.
    """
    base = env.unwrapped
    tasks = list(base.tasks)[: n_tasks if n_tasks is not None else None]
    labelled: list[LabelledTask] = []
    for i, task in enumerate(tasks):
        correct: dict[str, bool] = {}
        for alias in aliases:
            obs, _ = env.reset(seed=seed + i, options={"task_id": task.task_id})
            _, _, terminated, truncated, info = env.step({"tool": "answer", "arguments": {"model": alias}})
            correct[alias] = bool((terminated or truncated) and info.get("correct"))
        label = next((a for a in aliases if correct[a]), NO_MODEL)
        labelled.append(LabelledTask(task.task_id, obs["task"], correct, label))
    return labelled


class ThresholdRouter:
    """Multinomial logistic regression (scikit-learn) from task embeddings to routing labels."""

    def __init__(self, model: Any, embed: Callable[[str], np.ndarray]) -> None:
        self.model, self.embed = model, embed

    @classmethod
    def fit(cls, tasks: Sequence[LabelledTask], embed: Callable[[str], np.ndarray], c: float = 1.0,
            seed: int = 0) -> "ThresholdRouter":
        from sklearn.linear_model import LogisticRegression

        labels = {t.label for t in tasks}
        if len(labels) < 2:
            raise ValueError(f"the router needs at least two distinct labels to learn from; got {sorted(labels)}")
        x = np.stack([embed(t.text) for t in tasks])
        y = np.array([t.label for t in tasks])
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x, y)
        return cls(model, embed)

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.model.classes_]

    def probabilities(self, text: str) -> dict[str, float]:
        p = self.model.predict_proba(self.embed(text)[None, :])[0]
        return dict(zip(self.classes, map(float, p)))

    def route(self, text: str, threshold: float, fallback: str) -> tuple[str, float]:
        """``(alias, confidence)``: the top class when it is a model and confident enough, else
        ``fallback``. The confidence rule: route iff ``max p >= threshold``."""
        return decide(self.probabilities(text), threshold, fallback)


def decide(probabilities: Mapping[str, float], threshold: float, fallback: str) -> tuple[str, float]:
    """The confidence rule on its own: the top label if it names a model and its probability is
    at least ``threshold``; otherwise ``fallback``."""
    label, confidence = max(probabilities.items(), key=lambda kv: (kv[1], kv[0]))
    if confidence >= threshold and label != NO_MODEL:
        return label, confidence
    return fallback, confidence


class ThresholdRouterPolicy(MenuPolicy):
    """The router as an :func:`~agents.baselines.evaluate` policy: one ``answer`` call per episode.

    Arguments:
        router: a fitted :class:`ThresholdRouter`.
        threshold: confidence needed to follow the classifier (the write-up's plugin: 0.8).
        fallback: answer alias used below the threshold; ``None`` = the priciest (strongest).
    """

    def __init__(self, router: ThresholdRouter, threshold: float = 0.8, fallback: str | None = None,
                 seed: int = 0) -> None:
        super().__init__(seed)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.router, self.threshold, self.fallback = router, threshold, fallback
        self.routed = 0  # episodes routed by the classifier (the rest fell back)

    def choose(self, obs: Mapping[str, Any]) -> MenuItem:
        finishers = {item.alias: item for item in self.finishers()}
        fallback = self.fallback or self.finishers()[-1].alias
        alias, _ = self.router.route(obs["task"], self.threshold, fallback)
        if alias not in finishers:  # a label from a catalogue this env does not have
            alias = fallback
        self.routed += int(alias != fallback)
        return finishers[alias]
