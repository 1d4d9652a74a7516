"""A trained MiniLM router as a text-env policy: save it, ship it, load it, run it anywhere a
baseline runs (``evaluate``, ``orchestra demo``, ``budget_curves``, Table 1 rows).

The router (:class:`agents.routers.MiniLMRouter`) acts on :class:`~agents.routing_view.RoutingView`
observations. :class:`TrainedRouterPolicy` renders that observation from the text env's own
observation each turn (the view's ``_observe``), so the router runs inside ``evaluate()`` beside
the baselines without wrapping the env. The checkpoint is the head alone (~0.4 MB; MiniLM comes
from its package) with the menu it was trained on and its training turn budget: the turn feature
is scaled by that budget, so a router trained at 4 turns reads the same features in a 50-turn env.

The shipped adapter (``agents/data/minilm_router.pt``) is produced by::

    python -m agents.trained_router --preset toolorchestra --steps 1000 --seed 0 --out agents/data/minilm_router.pt

and used as the policy spec ``agents.trained_router:shipped``.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping, Sequence

import gymnasium as gym
import numpy as np

from agents.routing_view import RoutingView

SHIPPED = Path(__file__).parent / "data" / "minilm_router.pt"


def save_router(router: Any, view: Any, path: "str | Path", **meta: Any) -> None:
    """The head's weights, its sizes, the menu's labels and the training turn budget."""
    import torch

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": router.net.state_dict(), "obs_dim": int(view.observation_space.shape[0]),
                "n_actions": int(view.action_space.n), "hidden": int(router.net[0].out_features),
                "menu": [it.label for it in view.menu.items],
                "max_turns": int(view.unwrapped.max_turns), **meta}, str(path))


def load_router(path: "str | Path") -> tuple[Any, dict[str, Any]]:
    """``(MiniLMRouter, checkpoint metadata)``."""
    import torch

    from agents.routers import MiniLMRouter

    ckpt = torch.load(str(path), weights_only=True)
    router = MiniLMRouter(ckpt["obs_dim"], ckpt["n_actions"], ckpt["hidden"])
    router.net.load_state_dict(ckpt["state_dict"])
    return router, {k: v for k, v in ckpt.items() if k != "state_dict"}


class TrainedRouterPolicy:
    """``begin``/``act`` over a text env, driven by a routing-view router (greedy)."""

    name = "minilm_router (trained)"

    def __init__(self, path: "str | Path" = SHIPPED) -> None:
        if not Path(path).is_file():
            raise FileNotFoundError(f"no trained router at {path}; make one with: python -m agents.trained_router "
                                    f"--out {path}")
        self.router, self.meta = load_router(path)
        self.view: Any = None

    def why_not(self, env: gym.Env) -> str | None:
        """Why this router cannot act on ``env`` (None if it can): its output layer is one logit per
        item of the menu it was trained on, so another menu (HLE's, tau2's) is out of reach."""
        from agents.menu import ToolMenu

        labels = [it.label for it in ToolMenu.from_env(env).items]
        if labels != list(self.meta["menu"]):
            return (f"this env's menu {labels} is not the one the router was trained on {self.meta['menu']}: "
                    "train a router on this env (python -m agents.trained_router)")
        return None

    def begin(self, env: gym.Env, obs: Mapping[str, Any], info: Mapping[str, Any]) -> None:
        if self.view is None or self.view.env is not env:
            reason = self.why_not(env)
            if reason:
                raise ValueError(reason)
            self.view = BudgetScaledView(env, int(self.meta["max_turns"]))
        self.view._task, self.view._history = obs["task"], []

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> Any:
        item = self.view.menu.items[self.router.predict(self.view._observe(obs))]
        self.view._history.append(item.label)
        return item.action(obs["task"])


class BudgetScaledView(RoutingView):
    """A RoutingView whose turn feature is scaled by the router's training turn budget, not the env's."""

    def __init__(self, env: gym.Env, max_turns: int) -> None:
        super().__init__(env)
        self.trained_max_turns = max_turns

    def _observe(self, text_obs: Mapping[str, Any]) -> np.ndarray:
        obs = super()._observe(text_obs)
        obs[-3] = float(text_obs["spent"][0]) / self.trained_max_turns
        return obs


def shipped() -> TrainedRouterPolicy:
    """The shipped adapter (policy spec ``agents.trained_router:shipped``)."""
    return TrainedRouterPolicy(SHIPPED)


def train(preset: str = "cost-first", steps: int = 1000, seed: int = 0, max_turns: int = 4,
          progress: bool = True) -> tuple[Any, Any, list[dict[str, float]]]:
    """Our GRPO (RouterConfig's defaults) on FRAMES-v0's train split under ``preset``."""
    import torch

    from agents.routers import RouterConfig, train_router
    from orchestra_env.wrappers import CostLatencyPenalty

    import orchestra_env  # noqa: F401

    torch.set_num_threads(1)
    config = RouterConfig(seed=seed, updates=10**9, max_env_steps=steps)
    envs = [RoutingView(CostLatencyPenalty.preset(gym.make("Orchestra/FRAMES-v0", split="train",
                                                           max_turns=max_turns), preset))
            for _ in range(config.group_size)]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="training the router", unit="step")
    router, history = train_router(envs, config, on_update=(lambda m: bar.update(int(m["env_steps"]) - bar.n))
                                   if bar else None)
    if bar:
        bar.close()
    return router, envs[0], history


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m agents.trained_router", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="cost-first")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-turns", type=int, default=4)
    p.add_argument("--out", default=str(SHIPPED))
    args = p.parse_args(argv)
    router, view, history = train(args.preset, args.steps, args.seed, args.max_turns)
    save_router(router, view, args.out, preset=args.preset, steps=int(history[-1]["env_steps"]), seed=args.seed)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e3:.0f} kB) after {int(history[-1]['env_steps'])} "
          f"env steps; last updates' mean return {np.mean([h['reward/mean'] for h in history[-10:]]):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
