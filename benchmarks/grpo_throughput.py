"""Our GRPO step vs TRL's GRPOTrainer: same tiny model, prompts, reward, group size and LoRA.

Each side runs in its own process (so peak memory is its own): ``--side ours|trl``. The parent
runs both and prints tokens/s (prompt + completion tokens through one GRPO step: generation,
reference pass, policy pass, optimiser step) and peak memory (GPU: max allocated; CPU: peak
RSS), and their ratios. Both use LoRA on the same modules, beta (KL) 0.001, clip 0.2 / 0.28,
token-level (DAPO) loss, one optimiser step per generation batch.

    python benchmarks/grpo_throughput.py --steps 5 --completion-tokens 32
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", choices=("ours", "trl", "both"), default="both")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--completion-tokens", type=int, default=32)
    parser.add_argument("--lora-rank", type=int, default=16)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        torch.set_num_threads(1)
    if args.side != "both":
        print(json.dumps((run_ours if args.side == "ours" else run_trl)(args)))
        return
    results = {}
    for side in ("ours", "trl"):
        cmd = [sys.executable, __file__, "--side", side] + [
            f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k != "side"]
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
        if out.returncode:
            sys.exit(f"{side} failed:\n{out.stderr[-3000:]}")
        results[side] = json.loads(out.stdout.strip().splitlines()[-1])
    device = "cuda" if torch.cuda.is_available() else "cpu (1 thread)"
    print(f"GRPO step, model={args.model}, {args.tasks} tasks x {args.group} rollouts, "
          f"<= {args.completion_tokens} completion tokens, LoRA r={args.lora_rank}, {device}")
    for side, r in results.items():
        print(f"{side:5s} {r['tokens_per_s']:10.0f} tokens/s  {r['step_s']:7.2f} s/step  peak {r['peak_mb']:8.0f} MB")
    print(f"ours / trl: tokens/s x{results['ours']['tokens_per_s'] / results['trl']['tokens_per_s']:.2f}, "
          f"peak memory x{results['ours']['peak_mb'] / results['trl']['peak_mb']:.2f}")


if __name__ == "__main__":
    main()
