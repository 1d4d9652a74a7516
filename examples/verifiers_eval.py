"""Evaluate a model on an Orchestra id with verifiers' own runner (verifiers.v1).

    python examples/verifiers_eval.py --base-url http://127.0.0.1:8000/v1 --model my-model --n 5

Any OpenAI-compatible endpoint works (vLLM, `python -m orchestra_env.experts.serve`, a hosted API
with --api-key-var). verifiers runs its harness as a uv script: `pip install uv` first.
"""
from __future__ import annotations

import argparse
import asyncio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-id", default="Orchestra/FRAMES-v0")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--api-key-var", default="OPENAI_API_KEY")
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--max-turns", type=int, default=10)
    parser.add_argument("--text", action="store_true",
                        help="parse the model's text replies instead of serving the tools over MCP")
    args = parser.parse_args(argv)

    from verifiers.v1.cli.eval.runner import run_eval

    if args.text:
        from orchestra_env.integrations.verifiers_env import eval_config
    else:
        from orchestra_env.integrations.verifiers_tools import eval_config

    config = eval_config(args.env_id, model=args.model, base_url=args.base_url, api_key_var=args.api_key_var,
                         n=args.n, make_kwargs={"max_turns": args.max_turns})
    episodes = asyncio.run(run_eval(config))
    for episode in episodes:
        for trace in episode.traces:
            print(episode.task.data.name, {k: r.score for k, r in trace.rewards.items()}, trace.metrics)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
