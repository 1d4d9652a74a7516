"""``python -m agents.multi_agent.cli``: train alpha-UMi with GLPFT, evaluate it.

Examples::

    # both stages on the tiny CPU model, ToolScale bank + tau2 mock gold trajectories
    python -m agents.multi_agent.cli --algo glpft --model tiny --data toolscale:bank:40,tau2:mock:5 \\
        --out runs/alpha_umi --tiny-prompts --lr-scale 100
    # resume after an interruption (finished stages are skipped)
    python -m agents.multi_agent.cli --algo glpft ... --out runs/alpha_umi --resume
    # the single-LLM baseline (backbone only, same data)
    python -m agents.multi_agent.cli --algo glpft --single ...
    # static metrics + end-to-end episodes of a trained team on held-out tasks
    python -m agents.multi_agent.cli --algo eval --out runs/alpha_umi --data toolscale:bank:20 --split test
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agents.multi_agent.glpft import PAPER_STAGES, GLPFTConfig


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alpha-umi", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", choices=("glpft", "eval"), default="glpft")
    p.add_argument("--model", default="tiny", help='an HF model path/id, or "tiny" (random-weight Qwen3)')
    p.add_argument("--mode", choices=("lora", "copies"), default="lora",
                   help="one base + a LoRA adapter per role (default), or a full model copy per role (the paper's)")
    p.add_argument("--data", default="toolscale:bank:40",
                   help="comma list: toolscale:DOMAIN:N[:INTENT+INTENT], tau2:DOMAIN:N, frames:N, or FILE.jsonl")
    p.add_argument("--split", default="train", help="ToolScale split the data is drawn from")
    p.add_argument("--out", required=True, help="output folder (stages, glpft_state.json, checkpoints)")
    p.add_argument("--resume", action="store_true", help="skip finished stages, resume the unfinished one")
    p.add_argument("--single", action="store_true", help="train the backbone only (the single-LLM baseline)")
    p.add_argument("--single-epochs", type=float, default=None, help="the baseline's epochs (default: stage 1's)")
    p.add_argument("--lr-scale", type=float, default=1.0, help="multiply the paper's learning rates")
    p.add_argument("--epoch-scale", type=float, default=1.0, help="multiply the paper's epochs")
    p.add_argument("--max-length", type=int, default=1024)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--save-steps", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny-prompts", action="store_true", help="short prompts (no tool docs) for the tiny model")
    p.add_argument("--episodes", type=int, default=10, help="eval: end-to-end episodes per env")
    p.add_argument("--max-new-tokens", type=int, default=96)
    return p


def config_from(args: argparse.Namespace) -> GLPFTConfig:
    from agents.multi_agent.roles import PromptConfig

    return GLPFTConfig(model=args.model, mode=args.mode, stages=dict(PAPER_STAGES), lr_scale=args.lr_scale,
                       epoch_scale=args.epoch_scale, max_length=args.max_length, batch_size=args.batch_size,
                       grad_accum=args.grad_accum, lora_r=args.lora_r, lora_alpha=2 * args.lora_r, seed=args.seed,
                       save_steps=args.save_steps, prompt=PromptConfig.tiny() if args.tiny_prompts else PromptConfig(),
                       single=args.single, single_epochs=args.single_epochs)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from agents.multi_agent.data import iter_sources

    config = config_from(args)
    trajectories = list(iter_sources(args.data, split=args.split, seed=args.seed))
    if not trajectories:
        print(f"no trajectories from --data {args.data!r}", file=sys.stderr)
        return 2
    if args.algo == "glpft":
        from agents.multi_agent.glpft import run_glpft

        _, state = run_glpft(trajectories, config, args.out, resume=args.resume)
        print(json.dumps(state["stages"], indent=2))
        return 0
    from agents.multi_agent.glpft import Team
    from agents.multi_agent.metrics import static_metrics

    team = Team.load(args.out)
    state = json.loads((Path(args.out) / "glpft_state.json").read_text())
    single = bool(state["config"].get("single"))
    scores = static_metrics(team, trajectories, config.prompt, single=single, max_new_tokens=args.max_new_tokens,
                            max_length=config.max_length)
    print(json.dumps({"static": scores.as_dict(), "n_trajectories": len(trajectories)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
