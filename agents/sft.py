"""SFT warm start of the LLM policy: imitate routers' trajectories, on the policy's own tokens only.

ToolOrchestra starts its orchestrator's RL from a policy that already speaks the tool-call
format; a random (or merely instruction-tuned) model spends most of its early GRPO rollouts on
malformed calls that teach nothing. This module produces that start as a LoRA adapter:

1. **Demonstrations.** Menu routers (:mod:`agents.bayes_router`'s Bayes router, the fixed
   baselines of :mod:`agents.baselines`) play train-split episodes. Each of their calls is
   rendered as the text the policy itself would emit (``<tool_call>\\n{"name": ..., "arguments":
   ...}\\n</tool_call>``, the Hermes format the chat template asks for, closed by the turn-end
   token) and the episode is grown with :class:`~agents.rollout.TokenSequence`, exactly as a
   rollout grows it: the env is stepped with the *decoded text*, tool outputs are appended as
   ``tool`` turns. So a demonstration is token for token what a rollout of a policy that
   sampled those calls would be, and its ``policy_mask`` marks the same tokens GRPO trains.
2. **SFT.** TRL's ``SFTTrainer`` on the pre-tokenized sequences with that mask as the
   ``assistant_masks`` column: TRL sets every other label to -100, so the prompt (system,
   tool list, task), the tool outputs and the template glue carry no loss, whatever the chat
   template (ours has no ``{% generation %}`` markers, so TRL's ``assistant_only_loss`` could
   not find the turns itself).
3. **The adapter** is saved with :meth:`LLMPolicy.save`; ``PolicyConfig(start_from=<it>)``
   merges it into the base, so :mod:`agents.grpo` trains a fresh adapter from the SFT policy,
   with the SFT policy as its KL reference (``python -m agents.train --start-from <it>``).

Why a *mixture* of demonstrators by default: imitation of one deterministic router would leave
RL nothing to choose; ToolOrchestra's own trajectories come from many models of varying
quality. SFT learns the format and the support of sensible calls from all of them, and RL then
picks, by reward, which of the demonstrated behaviours to keep.

    orchestra sft --model tiny-peaked --no-tool-schemas --max-output-chars 300 --out runs/sft/adapter
    python -m agents.train --algo grpo --model tiny-peaked --no-tool-schemas --max-output-chars 300 \
        --start-from runs/sft/adapter --env-kwargs '{"split": "train", "max_turns": 2}' --reward env \
        --penalty accuracy-first

(``benchmarks/train_llm_policy.py`` runs both, on a five-alias catalogue, and scores them.)
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import gymnasium as gym
import numpy as np

from orchestra_env.actions import ParseError, ToolCall, parse_action

from agents.policy import LLMPolicy, PolicyConfig
from agents.rollout import TokenSequence
from agents.run import task_pool, task_resets

if TYPE_CHECKING:
    from agents.bayes_router import WorldModel

DEMONSTRATORS = ("bayes", "random", "cheapest", "strongest", "heuristic", "thorough")


@dataclass
class SFTConfig:
    """The warm start's data and optimiser settings (each field is an ``orchestra sft`` flag)."""

    env_id: str = "Orchestra/FRAMES-v0"
    """A registered env id (``--env``); its menu of (tool, model) calls is what is demonstrated."""
    env_kwargs: dict[str, Any] = field(default_factory=lambda: {"split": "train", "max_turns": 2})
    """Keyword arguments of ``gym.make``; keep ``split="train"``: demonstrations are training data."""
    penalty: str | None = "accuracy-first"
    """``CostLatencyPenalty`` preset: the reward the Bayes router maximises (and GRPO should use)."""
    demonstrators: str = "bayes,strongest,cheapest,random"
    """Comma-separated routers whose episodes are imitated, equal shares: ``bayes`` and
    :data:`agents.baselines.BASELINES`' menu policies (random, cheapest, strongest, heuristic, thorough)."""
    episodes: int = 32
    """Episodes per demonstrator, each on a task drawn from the env's tasks with a fresh seed."""
    task_pool: tuple[int, ...] | None = None
    """Task indices (of the env's split) demonstrations are drawn from; None: all. Leave some
    train tasks out to choose hyper-parameters on them."""
    fit_tasks: int = 20
    """Train tasks of the Bayes router's Monte Carlo evidence estimate (:func:`agents.bayes_router.fit_world`)."""
    fit_cost_tasks: int | None = None
    """Train tasks of its cost and latency estimates (None: all ``fit_tasks``; a few give the
    noisy estimates whose low draws the router's plan then picks)."""
    learning_rate: float = 3e-3
    """AdamW step size of the adapter (tiny model; 1e-4..2e-4 is usual on a real 8B model)."""
    epochs: float = 10.0
    """Passes over the demonstrations."""
    batch_size: int = 8
    """Sequences per optimiser step."""
    scheduler: str = "constant"
    """transformers' ``lr_scheduler_type`` (``constant``, ``cosine``, ``linear``)."""
    seed: int = 0
    """Seeds the task draw, the demonstrators' own randomness and the trainer."""
    out: str = "runs/sft/adapter"
    """Folder the adapter (and tokenizer) is written to; pass it as ``--start-from`` to GRPO."""

    def __post_init__(self) -> None:
        names = self.names()
        unknown = sorted(set(names) - set(DEMONSTRATORS))
        if unknown or not names:
            raise ValueError(f"SFTConfig.demonstrators={self.demonstrators!r}: use a comma list of {DEMONSTRATORS}")
        if self.episodes < 1:
            raise ValueError(f"SFTConfig.episodes must be >= 1, got {self.episodes}")

    def names(self) -> list[str]:
        return [n.strip() for n in self.demonstrators.split(",") if n.strip()]


@dataclass
class Demonstration:
    """One demonstrated episode as the policy's token sequence (``policy_mask``: its own tokens)."""

    token_ids: list[int]
    policy_mask: list[int]
    source: str
    env_return: float
    correct: bool


# ------------------------------------------------------------------------------------- text
def render_call(action: Any) -> str:
    """A menu action (dict or text) as the Hermes tool-call text the policy emits."""
    call = parse_action(action)
    if isinstance(call, ParseError):
        raise ValueError(f"the demonstrator's action {action!r} does not parse: {call}")
    return f"<tool_call>\n{call.to_json()}\n</tool_call>"


def turn_end_id(policy: LLMPolicy) -> int:
    """The token that closes an assistant turn in the chat template (what sampling stops on)."""
    tid = policy.tokenizer.convert_tokens_to_ids("<|im_end|>")
    return tid if isinstance(tid, int) and tid in policy.eos_ids else policy.eos_ids[0]


# ------------------------------------------------------------------------------- environments
def make_env(config: SFTConfig, **overrides: Any) -> gym.Env:
    """``config.env_id`` with ``config.env_kwargs`` (updated by ``overrides``), penalty-wrapped."""
    import orchestra_env  # noqa: F401 - registers the ids
    from orchestra_env.wrappers import CostLatencyPenalty

    env = gym.make(config.env_id, **{**config.env_kwargs, **overrides})
    return CostLatencyPenalty.preset(env, config.penalty) if config.penalty else env


def fit_bayes_world(config: SFTConfig) -> "WorldModel":
    """The Bayes router's world model on train tasks. Its estimates step up to 3 searches and a
    call, so it is fitted on a copy of the env with at least 4 turns (the router then plans for
    the acting env's own ``max_turns``)."""
    from agents.bayes_router import fit_world

    turns = max(4, int(config.env_kwargs.get("max_turns", 4)))
    return fit_world(make_env(config, max_turns=turns), config.fit_tasks, seed=10_000 + config.seed,
                     n_cost_tasks=config.fit_cost_tasks)


def make_demonstrator(name: str, seed: int, world: "WorldModel | None" = None) -> Any:
    if name == "bayes":
        from agents.bayes_router import BayesRouter

        if world is None:
            raise ValueError("the bayes demonstrator needs its world model (fit_bayes_world)")
        return BayesRouter(world, seed=seed)
    from agents.baselines import make_baseline

    return make_baseline(name, seed=seed)


# ------------------------------------------------------------------------------- demonstrations
def demonstrate(policy: LLMPolicy, env: gym.Env, demonstrator: Any, resets: Sequence[Mapping[str, Any]],
                source: str = "") -> list[Demonstration]:
    """Play ``demonstrator`` from each reset, recording each episode as the policy's tokens.

    The env is stepped with the decoded text of the tokens the policy would be trained on, and
    each call must parse back to the demonstrator's call: a demonstration can never teach a
    text the env reads differently.
    """
    stop = turn_end_id(policy)
    out = []
    for kwargs in resets:
        obs, info = env.reset(**kwargs)
        demonstrator.begin(env, obs, info)
        seq = TokenSequence.start(policy, env, obs)
        total = 0.0
        while True:
            action = demonstrator.act(obs, info)
            text = seq.add_action(policy.encode(render_call(action)) + [stop])
            if parse_action(text) != parse_action(action):
                raise RuntimeError(f"the policy's tokens decode to {text!r}, which the env reads differently "
                                   f"from the demonstrated call {action!r}")
            obs, reward, terminated, truncated, info = env.step(text)
            total += float(reward)
            if terminated or truncated:
                break
            seq.add_output(obs["output"])
        out.append(Demonstration(seq.token_ids, seq.policy_mask, source, total, bool(info.get("correct", False))))
    return out


def collect_demonstrations(policy: LLMPolicy, config: SFTConfig, env: gym.Env | None = None) -> list[Demonstration]:
    """``config.episodes`` episodes of each demonstrator on seeded random tasks of ``env``."""
    env = env if env is not None else make_env(config)
    names = config.names()
    world = fit_bayes_world(config) if "bayes" in names else None
    rng = np.random.default_rng(config.seed)
    pool = task_pool(config.task_pool, env)
    demos: list[Demonstration] = []
    for k, name in enumerate(names):
        resets, _ = task_resets(rng, pool, config.episodes, 1)  # a fresh seed and task of the pool per episode
        demos += demonstrate(policy, env, make_demonstrator(name, config.seed + k, world), resets, name)
    return demos


# ------------------------------------------------------------------------------------- training
def build_trainer(policy: LLMPolicy, demos: Sequence[Demonstration], config: SFTConfig, output_dir: str) -> Any:
    """TRL's ``SFTTrainer`` over the policy's (LoRA) model; labels are -100 off ``policy_mask``."""
    from datasets import Dataset
    from trl import SFTConfig as TRLSFTConfig
    from trl import SFTTrainer

    if not demos:
        raise ValueError("no demonstrations to train on")
    rows = {"input_ids": [d.token_ids for d in demos], "assistant_masks": [d.policy_mask for d in demos]}
    longest = max(len(d.token_ids) for d in demos)
    args = TRLSFTConfig(
        output_dir=output_dir, max_length=longest, packing=False,  # never cut: the calls are at the end
        learning_rate=config.learning_rate, num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size, lr_scheduler_type=config.scheduler, warmup_steps=0,
        weight_decay=0.0, seed=config.seed, data_seed=config.seed, save_strategy="no", report_to=[],
        logging_steps=5, disable_tqdm=True, dataloader_num_workers=0, use_cpu=policy.device.type == "cpu",
        bf16=policy.config.dtype == "bfloat16", gradient_checkpointing=policy.config.gradient_checkpointing,
    )
    return SFTTrainer(model=policy.model, args=args, train_dataset=Dataset.from_dict(rows),
                      processing_class=policy.tokenizer)


def train_sft(policy: LLMPolicy, demos: Sequence[Demonstration], config: SFTConfig) -> dict[str, float]:
    """SFT of ``policy``'s adapter in place on ``demos``; returns the trainer's loss summary."""
    with tempfile.TemporaryDirectory(prefix="orchestra-sft-") as tmp:
        trainer = build_trainer(policy, demos, config, tmp)
        result = trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"train_loss": float(result.training_loss), "steps": float(trainer.state.global_step),
            "first_loss": float(losses[0] if losses else result.training_loss),  # fewer steps than logging_steps:
            "last_loss": float(losses[-1] if losses else result.training_loss)}  # the run's mean stands in


def warm_start(policy_config: PolicyConfig, config: SFTConfig) -> tuple[LLMPolicy, dict[str, Any]]:
    """Collect demonstrations, run SFT, save the adapter to ``config.out``; the trained policy and a summary."""
    import torch

    torch.manual_seed(config.seed)
    policy = LLMPolicy(policy_config)
    t0 = time.perf_counter()
    demos = collect_demonstrations(policy, config)
    summary: dict[str, Any] = {"demonstrations": len(demos), "collect_s": time.perf_counter() - t0,
                               "policy_tokens": int(sum(sum(d.policy_mask) for d in demos)),
                               "demo_return": {n: float(np.mean([d.env_return for d in demos if d.source == n]))
                                               for n in config.names()}}
    t0 = time.perf_counter()
    summary.update(train_sft(policy, demos, config), train_s=time.perf_counter() - t0)
    policy.save(config.out)
    (Path(config.out) / "sft_config.json").write_text(json.dumps(
        {"sft": dataclasses.asdict(config), "policy": dataclasses.asdict(policy_config), "summary": summary}, indent=2))
    return policy, summary


def main(argv: Sequence[str] | None = None) -> int:
    """``orchestra sft``: every field of :class:`~agents.policy.PolicyConfig` and :class:`SFTConfig` is a flag."""
    import argparse

    from agents.train import add_dataclass_flags

    parser = argparse.ArgumentParser(prog="orchestra sft", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--env", dest="env_id", default=SFTConfig.env_id, help="a registered env id")
    add_dataclass_flags(parser, PolicyConfig, "policy")
    add_dataclass_flags(parser, SFTConfig, "sft")
    ns = vars(parser.parse_args(argv))
    policy_fields = {f.name for f in dataclasses.fields(PolicyConfig)}
    policy_config = PolicyConfig(**{k: v for k, v in ns.items() if k in policy_fields})
    config = SFTConfig(**{k: v for k, v in ns.items() if k not in policy_fields})
    _, summary = warm_start(policy_config, config)
    print(json.dumps(summary, indent=2))
    print(f"adapter in {config.out}; continue with: python -m agents.train --algo grpo --model "
          f"{policy_config.model} --start-from {config.out} --env {config.env_id} (and the same policy flags)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
