"""``python -m orchestra_env.cli``: the commands that need nothing but the env package.

``list-envs`` prints the registered ids; ``index`` builds and caches a search index. The
commands that drive an agent or a benchmark (``demo``, ``eval``, ``bench``) live one layer up,
in the ``orchestra`` CLI (:mod:`orchestra.cli`), because ``orchestra_env`` never imports
``agents`` or ``benchmarks`` (tests/test_layering.py). ``orchestra list-envs`` and
``orchestra index`` call the functions here.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence


def env_summary(env_id: str) -> str:
    """The first line of the env class's docstring (its card's title)."""
    import importlib

    import orchestra_env

    entry, _ = orchestra_env.ENV_IDS[env_id]
    module, cls = entry.split(":")
    try:
        doc = getattr(importlib.import_module(module), cls).__doc__ or ""
    except ImportError as exc:  # a domain whose optional parts are missing
        return f"(unavailable: {exc})"
    return doc.strip().splitlines()[0] if doc.strip() else ""


def list_envs(argv: Sequence[str] | None = None) -> int:
    """``list-envs``: every registered id with its one-line summary."""
    argparse.ArgumentParser(prog="orchestra list-envs", description="List the registered environment ids.").parse_args(argv)
    import orchestra_env

    for env_id in orchestra_env.ENV_IDS:
        print(f"{env_id:34s} {env_summary(env_id)}")
    return 0


def index(argv: Sequence[str] | None = None) -> int:
    """``index``: build and cache a search index (see ``index --help``)."""
    from orchestra_env.tools.search import build_index_cli

    return int(build_index_cli(list(argv or [])) or 0)


COMMANDS = {
    "list-envs": (list_envs, "list the registered environment ids"),
    "index": (index, "build and cache a search index over a corpus (see `index --help`)"),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        lines = [f"  {name:10s} {help_}" for name, (_, help_) in COMMANDS.items()]
        print("usage: python -m orchestra_env.cli {" + ",".join(COMMANDS) + "} ...\n\n" + "\n".join(lines))
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    return COMMANDS[argv[0]][0](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
