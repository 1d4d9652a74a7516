"""Command line: train an LLM orchestrator with GRPO or PPO.

    python -m agents.train --env Orchestra/FRAMES-v0 --algo grpo --model tiny --updates 10
    python -m agents.train --env Orchestra/FRAMES-v0 --algo ppo --model Qwen/Qwen3-0.6B \\
        --env-kwargs '{"max_turns": 10, "preference": "random"}' --penalty toolorchestra
    python -m agents.train ... --resume          # continue from <log-dir>/checkpoints/latest

Every field of :class:`~agents.policy.PolicyConfig` and of the algorithm's config is a flag
(``lora_rank`` -> ``--lora-rank``; booleans as ``--flag/--no-flag``; dicts as JSON); its help
is the field's docstring.
TensorBoard logs and checkpoints go to ``--log-dir``.

The multi-agent methods have their own options and are reached the same way:
``--algo glpft`` (alpha-UMi, :mod:`agents.multi_agent.cli`) and ``--algo moat``
(:mod:`agents.multi_agent.moat`); ``python -m agents.train --algo glpft --help`` lists them.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import textwrap
import types
import typing
from typing import Any, Sequence

from agents.policy import PolicyConfig

ALGOS = ("grpo", "ppo")


def _config_classes(algo: str) -> type:
    if algo == "grpo":
        from agents.grpo import GRPOConfig

        return GRPOConfig
    from agents.ppo import PPOConfig

    return PPOConfig


def field_docs(cls: type) -> dict[str, str]:
    """Each dataclass field's docstring (the string literal under it), base classes included."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body  # type: ignore[attr-defined]
        for node, after in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, group: str) -> None:
    """One flag per field, typed from the annotation, defaulting to the field's default, with the
    field's docstring as its help."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    section = parser.add_argument_group(group)
    for f in dataclasses.fields(cls):
        if f.name == "env_id":
            continue  # --env, below
        kind = hints[f.name]
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        optional = typing.get_origin(kind) in (typing.Union, types.UnionType)
        base = next(a for a in typing.get_args(kind) if a is not type(None)) if optional else kind
        help_text = docs.get(f.name, "").replace("%", "%%")  # argparse formats help with %
        if base is bool:
            section.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif typing.get_origin(base) in (dict, list, tuple) or base is dict:  # JSON: {...} or [...]
            section.add_argument(flag, type=json.loads, default=default, metavar="JSON", help=help_text)
        else:
            section.add_argument(flag, type=base, default=default, help=help_text)


def build_parser(algo: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m agents.train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--algo", choices=ALGOS, default=algo)
    parser.add_argument("--env", dest="env_id", default="Orchestra/FRAMES-v0", help="a registered env id")
    add_dataclass_flags(parser, PolicyConfig, "policy")
    add_dataclass_flags(parser, _config_classes(algo), algo)
    return parser


def parse(argv: Sequence[str] | None = None) -> tuple[str, PolicyConfig, Any]:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--algo", choices=ALGOS, default="grpo")
    algo = pre.parse_known_args(argv)[0].algo
    ns = vars(build_parser(algo).parse_args(argv))
    ns.pop("algo")
    policy_fields = {f.name for f in dataclasses.fields(PolicyConfig)}
    policy = PolicyConfig(**{k: v for k, v in ns.items() if k in policy_fields})
    if algo == "ppo":
        policy.value_head = True
    config = _config_classes(algo)(**{k: v for k, v in ns.items() if k not in policy_fields})
    return algo, policy, config


# Algorithms with their own command line, reached through ``--algo`` as well.
DELEGATED = {"glpft": "agents.multi_agent.cli", "moat": "agents.multi_agent.moat"}


def main(argv: Sequence[str] | None = None) -> Any:
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if "--algo" in args and args.index("--algo") + 1 < len(args) and args[args.index("--algo") + 1] in DELEGATED:
        import importlib

        algo = args[args.index("--algo") + 1]
        rest = args if algo == "glpft" else [a for i, a in enumerate(args) if a != "--algo" and args[i - 1] != "--algo"]
        return importlib.import_module(DELEGATED[algo]).main(rest)  # alpha-UMi's CLI reads --algo itself
    from agents.policy import LLMPolicy

    algo, policy_config, config = parse(args)
    policy = LLMPolicy(policy_config)
    if algo == "grpo":
        from agents.grpo import GRPO as Algo
    else:
        from agents.ppo import PPO as Algo  # type: ignore[assignment]
    print(f"{algo} on {config.env_id}: {policy.n_trainable():,} trainable parameters; logs in {config.log_dir}")
    return Algo(policy, config).train()


if __name__ == "__main__":
    main()
