"""Our GRPO step vs TRL's GRPOTrainer: same tiny model, prompts, reward, group size and LoRA.

Each side runs in its own process (so peak memory is its own): ``--side ours|trl``. The parent
runs both and prints tokens/s (prompt + completion tokens through one GRPO step: generation,
reference pass, policy pass, optimiser step) and peak memory (GPU: max allocated; CPU: peak
RSS), and their ratios. Both use LoRA on the same modules, beta (KL) 0.001, clip 0.2 / 0.28,
token-level (DAPO) loss, one optimiser step per generation batch.

    orchestra bench grpo-throughput --steps 3 --completion-tokens 32
    python -m benchmarks.grpo_throughput --out results/grpo_throughput

Writes ``results/grpo_throughput.{csv,json,md}`` (one row per side and their ratio).
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

from benchmarks.common import RunConfig, parse_run_config, run_recorded

os.environ.setdefault("HF_HUB_OFFLINE", "1")
MODELS = ("answer-3", "answer-4", "answer-1")


def prompts_and_reward(policy_path: str):
    """The toy env's prompts rendered with the model's template, and its (lenient) reward."""
    from transformers import AutoTokenizer

    from agents.toy_env import TASKS, OneRightModelEnv

    env = OneRightModelEnv(models=MODELS, right="answer-4", lenient=True)
    tok = AutoTokenizer.from_pretrained(policy_path)
    obs, _ = env.reset(seed=0)
    prompts = [tok.apply_chat_template(
        [{"role": "system", "content": obs["preference"]}, {"role": "user", "content": t.question}],
        tools=env.tool_schemas, tokenize=False, add_generation_prompt=True) for t in TASKS]

    def reward(completions, **_):
        return [1.0 if MODELS[ord((c.strip()[:1] or " ")) % 3] == "answer-4" else 0.0 for c in completions]

    return env, prompts, reward, tok


def peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(args) -> dict:
    from agents.grpo import GRPO, GRPOConfig
    from agents.policy import LLMPolicy, PolicyConfig
    from agents.toy_env import OneRightModelEnv

    policy = LLMPolicy(PolicyConfig(model=args.model, lora_rank=args.lora_rank, lora_alpha=2 * args.lora_rank,
                                    max_new_tokens=args.completion_tokens, max_context_tokens=4096))
    n = args.tasks * args.group
    cfg = GRPOConfig(tasks_per_update=args.tasks, group_size=args.group, learning_rate=1e-4, kl_coef=0.001,
                     minibatch_size=n, min_group_std=-1.0, log_dir=tempfile.mkdtemp(), quiet=True,
                     checkpoint_every=0, updates=args.steps + 1)
    envs = [OneRightModelEnv(models=MODELS, right="answer-4", lenient=True) for _ in range(n)]
    trainer = GRPO(policy, cfg, envs)
    trainer.update()  # warm-up
    tokens, t0 = 0, time.perf_counter()
    for _ in range(args.steps):
        from agents.rollout import collect  # noqa: F401 - (imports done before timing)
        m = trainer.update()
        tokens += int(n * (m["task/policy_tokens"] + prompt_len(policy.tokenizer, trainer)))
    seconds = time.perf_counter() - t0
    return {"tokens_per_s": tokens / seconds, "step_s": seconds / args.steps, "peak_mb": peak_memory_mb()}


def prompt_len(tokenizer, trainer) -> float:
    env = trainer.envs[0]
    obs, _ = env.reset(seed=0)
    from agents.rollout import TokenSequence

    return float(len(TokenSequence.start(trainer.policy, env, obs).token_ids))


def run_trl(args) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from agents.policy import _resolve_model

    path = _resolve_model(args.model)
    _, prompts, reward, tok = prompts_and_reward(path)
    n = args.tasks * args.group
    data = Dataset.from_dict({"prompt": (prompts * (1 + n * (args.steps + 1) // len(prompts)))[: n * (args.steps + 1) // args.group * 1]})
    lengths: list[float] = []
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):
            times.append(time.perf_counter())

        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "completions/mean_length" in logs:
                lengths.append(logs["completions/mean_length"])

    config = GRPOConfig(
        output_dir=tempfile.mkdtemp(), per_device_train_batch_size=n, num_generations=args.group,
        max_completion_length=args.completion_tokens, beta=0.001, epsilon=0.2, epsilon_high=0.28,
        loss_type="dapo", learning_rate=1e-4, max_steps=args.steps + 1, logging_steps=1, save_strategy="no",
        report_to="none", use_cpu=not torch.cuda.is_available(), bf16=False, top_k=0, temperature=1.0,
        disable_tqdm=True,
    )
    lora = LoraConfig(r=args.lora_rank, lora_alpha=2 * args.lora_rank, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = AutoModelForCausalLM.from_pretrained(path)
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=config, train_dataset=data,
                          processing_class=tok, peft_config=lora, callbacks=[Clock()])
    trainer.train()
    prompt_tokens = sum(len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts) / len(prompts)
    seconds = times[-1] - times[0]  # step 1 is the warm-up
    completion = sum(lengths[1:]) / max(1, len(lengths[1:])) if len(lengths) > 1 else args.completion_tokens
    return {"tokens_per_s": args.steps * n * (prompt_tokens + completion) / seconds,
            "step_s": seconds / args.steps, "peak_mb": peak_memory_mb()}


@dataclass
class GRPOThroughputConfig(RunConfig):
    side: str = field(default="both", metadata={"help": "ours | trl | both (each side in its own process)"})
    model: str = field(default="tiny", metadata={"help": "policy model (tiny: orchestra_env.tiny_lm)"})
    steps: int = field(default=3, metadata={"help": "timed GRPO steps after one warm-up step"})
    tasks: int = field(default=2, metadata={"help": "tasks per step"})
    group: int = field(default=8, metadata={"help": "rollouts per task"})
    completion_tokens: int = field(default=32, metadata={"help": "max completion tokens"})
    lora_rank: int = field(default=16, metadata={"help": "LoRA rank (alpha = 2 x rank)"})
    out: str = field(default="results/grpo_throughput", metadata={"help": "output stem"})

    def recorded(self) -> dict[str, Any]:
        return {k: v for k, v in super().recorded().items() if k != "side"}


def both_sides(config: GRPOThroughputConfig) -> list[dict[str, Any]]:
    """Each side in a fresh process (its peak memory is its own), then their ratio."""
    rows = []
    package_root = str(Path(__file__).resolve().parent.parent)  # run the same benchmarks code
    for side in ("ours", "trl"):
        cmd = [sys.executable, "-m", "benchmarks.grpo_throughput", "--side", side] + [
            f"--{f.name.replace('_', '-')}={getattr(config, f.name)}" for f in fields(config)
            if f.name not in ("side", "out", "progress")]
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path})
        if out.returncode:
            raise RuntimeError(f"{side} failed:\n{out.stderr[-3000:]}")
        rows.append({"side": side, **json.loads(out.stdout.strip().splitlines()[-1])})
    ours, trl = rows
    rows.append({"side": "ours / trl", "tokens_per_s": ours["tokens_per_s"] / trl["tokens_per_s"],
                 "step_s": ours["step_s"] / trl["step_s"], "peak_mb": ours["peak_mb"] / trl["peak_mb"]})
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """Both sides' tokens/s, seconds per step and peak memory; the ratio row as multipliers."""
    lines = ["| side | tokens/s | s/step | peak MB |", "|---|---:|---:|---:|"]
    for r in rows:
        if "/" in r["side"]:
            cells = [f"x{r['tokens_per_s']:.2f}", f"x{r['step_s']:.2f}", f"x{r['peak_mb']:.2f}"]
        else:
            cells = [f"{r['tokens_per_s']:,.0f}", f"{r['step_s']:.2f}", f"{r['peak_mb']:,.0f}"]
        lines.append(f"| {r['side']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, config: GRPOThroughputConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_run_config(argv, GRPOThroughputConfig(), __doc__)
    import torch

    if not torch.cuda.is_available():
        torch.set_num_threads(1)
    if config.side != "both":
        print(json.dumps((run_ours if config.side == "ours" else run_trl)(config)))
        return []
    rows, record, paths = run_recorded("grpo_throughput", config, both_sides, markdown=markdown)
    print(f"GRPO step, model={config.model}, {config.tasks} tasks x {config.group} rollouts, "
          f"<= {config.completion_tokens} completion tokens, LoRA r={config.lora_rank}, {record.device}")
    print(markdown(rows))
    print(f"wrote {', '.join(map(str, paths))} ({record.duration_s:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
