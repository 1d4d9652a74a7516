"""``orchestra``: list environments, run the demo, evaluate a baseline, run the benchmarks,
build a search index.

Each sub-command is one line of :data:`COMMANDS`: a name, a one-line help and the
``"module:function"`` of a ``main(argv: list[str] | None) -> int`` that parses its own options
(argparse) and is imported only when its command runs, so ``orchestra list-envs`` never loads
torch. Adding a command is adding a line, e.g.
``"serve-env": Command("orchestra_env.integrations.serve:main", "serve an env over HTTP")``.

The commands that need only the env package (``list-envs``, ``index``) point into
:mod:`orchestra_env.cli`; ``demo`` and ``eval`` need ``agents`` (:mod:`orchestra.evaluate`),
``bench`` needs ``benchmarks`` (:mod:`orchestra.bench`).
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Callable, Sequence


@dataclass(frozen=True)
class Command:
    """A sub-command: where its ``main(argv) -> int`` lives, and its line in ``orchestra --help``."""

    target: str  # "package.module:function"
    help: str

    def load(self) -> Callable[[list[str]], int]:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


COMMANDS: dict[str, Command] = {
    "list-envs": Command("orchestra_env.cli:list_envs", "list the registered environment ids"),
    "demo": Command("orchestra.evaluate:demo", "baselines on a FRAMES subset: accuracy, $ and seconds per task"),
    "eval": Command("orchestra.evaluate:eval_one", "evaluate one baseline policy on one environment"),
    "bench": Command("orchestra.bench:main", "run a benchmark into results/ (see `orchestra bench --help`)"),
    "index": Command("orchestra_env.cli:index", "build and cache a search index over a corpus"),
    "synthesize": Command("orchestra_env.domains.toolscale.synthesis.command:main",
                          "synthesize ToolScale-style domains and tasks with an LLM (see docs/toolscale.md)"),
    "describe-models": Command("orchestra_env.experts.describe:main",
                               "measure each catalogue model and write capability descriptions"),
    "vllm-serve": Command("orchestra_env.experts.vllm_server:main",
                          "start a vLLM server (its own venv, `make vllm`) for a local model on loopback"),
    "glpft": Command("agents.multi_agent.cli:main", "train and evaluate an alpha-UMi team (planner / caller / summarizer) by GLPFT"),
    "moat": Command("agents.multi_agent.moat:main", "MOAT: align a planner and an executor by alternating DPO and SFT stages"),
    "sft": Command("agents.sft:main", "SFT warm start of the LLM policy (LoRA) on Bayes-router / baseline trajectories"),
    "serve-env": Command("orchestra_env.integrations.openenv_server:main",
                         "serve an env id over OpenEnv's HTTP/WebSocket API on 127.0.0.1"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:{width}s}  {c.help}" for name, c in COMMANDS.items()]
    return (f"usage: orchestra {{{','.join(COMMANDS)}}} [options]\n\n"
            "Gymnasium environments for tool orchestration: list them, run baselines and benchmarks.\n\n"
            "commands (each has --help):\n" + "\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(usage(), file=sys.stderr)
        print(f"\norchestra: unknown command {name!r}", file=sys.stderr)
        return 2
    return int(COMMANDS[name].load()(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
