"""The routing view: any Orchestra env as a numeric env for Stable-Baselines3.

:class:`RoutingView` turns the text env into ``Discrete(len(menu))`` actions: one per
(tool, model) item of the env's :class:`~agents.menu.ToolMenu`, arguments filled by its
documented rule (``search`` lets the chosen model write the query, ``answer`` lets the chosen
model answer, ...), and a ``Box`` observation: the embedding of the task, the embedding of the
history (calls made so far and the last tool output), then (turn / max_turns, dollars / 0.01,
seconds / 60). Embeddings default to the process's shared MiniLM embedder
(:mod:`agents.embedding`). SB3's PPO, A2C and DQN train on it unchanged; the learned routers of
:mod:`agents.routers` do too. :func:`routing_policy` and :func:`mean_return` score any of them.
"""
from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.embedding import EMBED_DIM, shared_embedder
from agents.menu import ToolMenu

COST_SCALE_USD = 0.01
LATENCY_SCALE_S = 60.0
MAX_HISTORY_CHARS = 1000


class RoutingView(gym.Wrapper):
    """Discrete (tool, model) actions and a numeric observation over an Orchestra env.

    Rewards are the wrapped env's (wrap it in ``CostLatencyPenalty`` first to price cost and
    time). ``info["choice"]`` names the item taken. ``embed`` maps a text to a vector of size
    ``embed.dim`` (default: the shared MiniLM embedder).
    """

    def __init__(self, env: gym.Env, embed: Callable[[str], np.ndarray] | None = None) -> None:
        super().__init__(env)
        self.menu = ToolMenu.from_env(env)
        self.embed = embed if embed is not None else shared_embedder()
        self.embed_dim = dim = int(getattr(self.embed, "dim", EMBED_DIM))  # obs[:dim] embeds the task
        low = np.concatenate([np.full(2 * dim, -1.0), np.zeros(3)]).astype(np.float32)
        high = np.concatenate([np.full(2 * dim, 1.0), np.full(3, np.inf)]).astype(np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.action_space = spaces.Discrete(len(self.menu))
        self._task, self._history = "", []  # type: ignore[var-annotated]
        self._spent = np.zeros(3, dtype=np.float32)

    @property
    def task_text(self) -> str:
        """The current episode's task (what a text-reading router encodes itself)."""
        return self._task

    def _observe(self, text_obs: dict[str, Any]) -> np.ndarray:
        spent = np.asarray(text_obs["spent"], dtype=np.float32)
        max_turns = float(getattr(self.env.unwrapped, "max_turns", 1))
        scaled = np.array([spent[0] / max_turns, spent[1] / COST_SCALE_USD, spent[2] / LATENCY_SCALE_S],
                          dtype=np.float32)
        history = "; ".join(self._history) + "\n" + text_obs["output"][:MAX_HISTORY_CHARS]
        emb = np.concatenate([self.embed(self._task), self.embed(history)]).astype(np.float32)
        return np.concatenate([np.clip(emb, -1.0, 1.0), scaled]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._task, self._history = obs["task"], []
        info["task_text"] = obs["task"]
        return self._observe(obs), info

    def step(self, action: Any):
        item = self.menu.items[int(action)]
        obs, reward, terminated, truncated, info = self.env.step(item.action(self._task))
        self._history.append(item.label)
        info["choice"] = item.label
        return self._observe(obs), reward, terminated, truncated, info


def routing_policy(router: Any, deterministic: bool = True, view: RoutingView | None = None
                   ) -> Callable[[np.ndarray], int]:
    """Adapt anything with SB3's ``predict`` (a router or an SB3 model) to ``obs -> action``.

    Routers that read the task text (:class:`LoRAMiniLMRouter`) need the ``view`` they act in.
    """
    def act(obs: np.ndarray) -> int:
        extra = {} if view is None else {"task": view.task_text}
        out = router.predict(obs, deterministic=deterministic, **extra)
        return int(out[0] if isinstance(out, tuple) else out)
    return act


def mean_return(env: RoutingView, act: Callable[[np.ndarray], int], n_tasks: int, seed: int = 0) -> float:
    """Mean episode return of ``act`` on ``n_tasks`` tasks (a seeded permutation, as evaluate())."""
    order = np.random.default_rng(seed).permutation(len(env.unwrapped.tasks))
    total = 0.0
    for i in range(n_tasks):
        obs, _ = env.reset(seed=seed + i, options={"task_index": int(order[i % len(order)])})
        done = False
        while not done:
            obs, r, terminated, truncated, _ = env.step(act(obs))
            total += float(r)
            done = terminated or truncated
    return total / n_tasks
