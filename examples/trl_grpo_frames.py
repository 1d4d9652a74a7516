"""Train TRL's GRPOTrainer on Orchestra/FRAMES-v0, multi-turn, with ToolOrchestra's reward.

    python examples/trl_grpo_frames.py                       # tiny random model, 2 steps, CPU
    python examples/trl_grpo_frames.py --model Qwen/Qwen3-0.6B --steps 200 --max-turns 10

TRL drives the episode: each tool call the model writes is one env step (agents.trl_env makes
one tool method per Orchestra tool), the tool output is fed back, and the rollout ends at the
first message without a tool call. The env's return and ToolOrchestra's group-relative
preference reward are both TRL reward functions (pick one, or weight both).
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-id", default="Orchestra/FRAMES-v0")
    parser.add_argument("--model", default="tiny", help='a hub id / local path, or "tiny" (orchestra_env.tiny_lm)')
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--max-turns", type=int, default=4)
    parser.add_argument("--group", type=int, default=4, help="rollouts per task (TRL's num_generations)")
    parser.add_argument("--tasks-per-step", type=int, default=2)
    parser.add_argument("--completion-tokens", type=int, default=64)
    parser.add_argument("--reward", choices=("preference", "env"), default="preference")
    parser.add_argument("--out", default="runs/trl_grpo_frames")
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from agents.trl_env import OrchestraTRL

    path = args.model
    if args.model == "tiny":
        from trl.chat_template_utils import qwen3_template

        from orchestra_env.tiny_lm import build_tiny_lm

        path = str(build_tiny_lm())
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if args.model == "tiny":
        tokenizer.response_template = qwen3_template  # TRL knows real Qwen3 templates; the tiny LM writes the same calls

    orch = OrchestraTRL(args.env_id, max_turns=args.max_turns)
    batch = args.group * args.tasks_per_step
    config = GRPOConfig(
        output_dir=args.out, per_device_train_batch_size=batch, num_generations=args.group,
        max_completion_length=args.completion_tokens * args.max_turns, max_tool_calling_iterations=args.max_turns,
        max_steps=args.steps, logging_steps=1, report_to="none", save_strategy="no",
        use_cpu=not torch.cuda.is_available(), learning_rate=1e-5,
    )
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(path), processing_class=tokenizer, args=config,
        train_dataset=orch.dataset(batch * args.steps // args.group, seed=0),
        environment_factory=orch.environment_factory,
        reward_funcs=[orch.preference_reward if args.reward == "preference" else orch.env_reward],
    )
    trainer.train()
    for entry in trainer.state.log_history:
        if "reward" in entry:
            print(f"step {entry['step']}: reward {entry['reward']:.3f}, tool calls/rollout "
                  f"{entry.get('tools/call_frequency', 0):.2f}")
    done = sum(e.finished for e in orch.episodes)
    print(f"{len(orch.episodes)} rollouts, {done} ended by the env, "
          f"mean env return {sum(e.env_return for e in orch.episodes) / max(1, len(orch.episodes)):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
