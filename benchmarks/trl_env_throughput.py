"""Multi-turn GRPO on an Orchestra env: our trainer vs TRL's GRPOTrainer through ``agents.trl_env``.

Same env id and ``max_turns``, same tiny model, LoRA rank, group size, tasks per update and
per-turn completion budget, env return as the reward, one optimiser step per update. Measured
after one warm-up update: seconds per update, rollouts (episodes) and policy turns per second,
on one CPU thread (or the GPU if there is one). Each side runs in its own process.

The two loops end a rollout differently, so turns per rollout are reported: TRL ends it at the
first message without a tool call; ours steps every message (a format error costs a turn) until
the env ends the episode or ``max_turns``. Compare turns/s for the per-turn cost.

    python -m benchmarks.trl_env_throughput --updates 2 --out results/trl_env_throughput

Writes ``<out>.csv``/``.json`` and ``<out>.md`` (the table docs/integrations/trl.md includes).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


@dataclass
class ThroughputConfig:
    env_id: str = "Orchestra/FRAMES-v0"
    max_turns: int = 2
    tasks: int = 2
    group: int = 4
    completion_tokens: int = 16
    updates: int = 2
    lora_rank: int = 8
    seed: int = 0
    sides: list[str] = field(default_factory=lambda: ["ours", "trl"])
    out: str = "results/trl_env_throughput"
    progress: bool = False
    experts: dict = field(default_factory=lambda: {"default": "simulated", "models": {}})  # the env's default

    def recorded(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("out", "progress", "experts")}


def run_ours(c: ThroughputConfig) -> dict:
    from agents.grpo import GRPO, GRPOConfig
    from agents.policy import LLMPolicy, PolicyConfig
    from agents.run import make_envs

    policy = LLMPolicy(PolicyConfig(model="tiny", lora_rank=c.lora_rank, lora_alpha=2 * c.lora_rank,
                                    max_new_tokens=c.completion_tokens, max_context_tokens=8192))
    n = c.tasks * c.group
    cfg = GRPOConfig(env_id=c.env_id, env_kwargs={"max_turns": c.max_turns}, tasks_per_update=c.tasks,
                     group_size=c.group, reward="env", learning_rate=1e-4, minibatch_size=n, min_group_std=-1.0,
                     log_dir=tempfile.mkdtemp(), quiet=True, checkpoint_every=0, updates=c.updates + 1, seed=c.seed)
    trainer = GRPO(policy, cfg, make_envs(cfg, n))
    trainer.update()  # warm-up
    t0 = time.perf_counter()
    turns = []
    for _ in range(c.updates):
        turns.append(trainer.update()["task/turns"])
    seconds = time.perf_counter() - t0
    return {"s_per_update": seconds / c.updates, "rollouts_per_s": n * c.updates / seconds,
            "turns_per_rollout": sum(turns) / len(turns)}


def run_trl(c: ThroughputConfig) -> dict:
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer
    from trl.chat_template_utils import qwen3_template

    from agents.trl_env import OrchestraTRL
    from orchestra_env.tiny_lm import build_tiny_lm

    path = build_tiny_lm()
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    tok.response_template = qwen3_template  # the tiny LM writes Qwen/Hermes tool calls
    orch = OrchestraTRL(c.env_id, max_turns=c.max_turns)
    n = c.tasks * c.group
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter())

    config = GRPOConfig(
        output_dir=tempfile.mkdtemp(), per_device_train_batch_size=n, num_generations=c.group,
        max_completion_length=c.completion_tokens * c.max_turns, max_tool_calling_iterations=c.max_turns - 1,
        learning_rate=1e-4, max_steps=c.updates + 1, logging_steps=1, save_strategy="no", report_to="none",
        use_cpu=not torch.cuda.is_available(), bf16=False, disable_tqdm=True, seed=c.seed, beta=0.0,
    )
    lora = LoraConfig(r=c.lora_rank, lora_alpha=2 * c.lora_rank, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(path), processing_class=tok, args=config,
                          train_dataset=orch.dataset(n * (c.updates + 1), seed=c.seed), peft_config=lora,
                          environment_factory=orch.environment_factory, reward_funcs=[orch.env_reward],
                          callbacks=[Clock()])
    trainer.train()
    seconds = times[-1] - times[0]  # step 1 is the warm-up
    episodes = orch.episodes[n:]
    return {"s_per_update": seconds / c.updates, "rollouts_per_s": n * c.updates / seconds,
            "turns_per_rollout": sum(len(e.actions) for e in episodes) / max(1, len(episodes))}


def run(c: ThroughputConfig) -> list[dict]:
    import torch

    rows = []
    for side in c.sides:
        cmd = [sys.executable, "-m", "benchmarks.trl_env_throughput", "--side", side,
               "--config", json.dumps(c.recorded())]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                             env={**os.environ, "PYTHONPATH": os.getcwd()})
        if out.returncode:
            sys.exit(f"{side} failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["turns_per_s"] = result["rollouts_per_s"] * result["turns_per_rollout"]
        rows.append({"side": side, "env_id": c.env_id, "device": "cuda" if torch.cuda.is_available() else "cpu-1thread",
                     **result})
    return rows


TRAINER = {"ours": "ours (`agents.grpo`)", "trl": "TRL `GRPOTrainer` + `agents.trl_env`"}


def markdown(rows: list[dict]) -> str:
    """The table docs/integrations/trl.md includes, one line per trainer."""
    from benchmarks.common import markdown_table

    shown = [{"trainer": TRAINER.get(r["side"], r["side"]), "device": r["device"], "s/update": r["s_per_update"],
              "rollouts/s": r["rollouts_per_s"], "turns/rollout": r["turns_per_rollout"], "turns/s": r["turns_per_s"]}
             for r in rows]
    return markdown_table(shown, floatfmt=".2f")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    d = ThroughputConfig()
    parser.add_argument("--side", choices=("ours", "trl"), help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    for name in ("env_id", "max_turns", "tasks", "group", "completion_tokens", "updates", "lora_rank", "seed", "out"):
        default = getattr(d, name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        torch.set_num_threads(1)
    if args.side:
        c = ThroughputConfig(**json.loads(args.config))
        torch.manual_seed(c.seed)
        print(json.dumps((run_ours if args.side == "ours" else run_trl)(c)))
        return 0
    from benchmarks.common import run_recorded

    c = ThroughputConfig(**{k: v for k, v in vars(args).items() if k not in ("side", "config")})
    rows, _, paths = run_recorded("trl_env_throughput", c, run, markdown=markdown)
    for r in rows:
        print(f"{r['side']:5s} {r['s_per_update']:7.2f} s/update  {r['rollouts_per_s']:6.2f} rollouts/s  "
              f"{r['turns_per_rollout']:.2f} turns/rollout  {r['turns_per_s']:6.2f} turns/s")
    print("wrote", *paths)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
