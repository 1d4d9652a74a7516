"""``orchestra synthesize``: one domain per subject, each written to ``<out>/<domain>/``.

    orchestra synthesize --base-url http://127.0.0.1:8000/v1 --model Qwen3-32B \\
        --subject "movie ticket booking" --out domains/
    orchestra synthesize --experts pool.yaml --model gpt-5 --subjects-file subjects.txt --out domains/

A subjects file has one subject a line (``#`` comments); each gets the seed ``seed + line``.
The simulated pool cannot write JSON, so a real backend is required.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Sequence

from orchestra_env.domains.toolscale.synthesis.pipeline import synthesize
from orchestra_env.experts.base import Expert


def _subjects(args: argparse.Namespace) -> list[str]:
    subjects = list(args.subject or [])
    if args.subjects_file:
        lines = Path(args.subjects_file).read_text(encoding="utf-8").splitlines()
        subjects += [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]
    return subjects


def _expert(args: argparse.Namespace) -> Expert:
    if args.base_url:
        from orchestra_env.experts.openai_compat import OpenAICompatExpert

        return OpenAICompatExpert(args.base_url, api_key_env=args.api_key_env, deadline_s=args.deadline_s,
                                  timeout_s=args.deadline_s)
    from orchestra_env.experts.pool import ExpertPool

    return ExpertPool.from_config(args.experts)


def slug(subject: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", subject.lower()).strip("_")[:40] or "domain"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orchestra synthesize", description=__doc__.split("\n\n")[0])
    parser.add_argument("--subject", action="append", help="a domain subject (repeatable)")
    parser.add_argument("--subjects-file", help="one subject a line")
    parser.add_argument("--model", required=True, help="model name sent to the backend")
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint (vLLM, SGLang, OpenAI, serve.py)")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY")
    parser.add_argument("--experts", help="an expert-pool YAML whose backend serves --model")
    parser.add_argument("--out", required=True, help="folder that receives one domain folder per subject")
    parser.add_argument("--n-tasks", type=int, default=8, help="tasks asked for per domain")
    parser.add_argument("--min-records", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--no-evolve", action="store_true", help="skip the constraint-adding pass")
    parser.add_argument("--deadline-s", type=float, default=600.0, help="limit of one stage call")
    args = parser.parse_args(argv)
    subjects = _subjects(args)
    if not subjects:
        parser.error("give --subject or --subjects-file")
    if not (args.base_url or args.experts):
        parser.error("synthesis needs a model that writes JSON: pass --base-url or --experts")
    expert = _expert(args)
    failed = 0
    for i, subject in enumerate(subjects):
        report = synthesize(subject, expert, args.model, Path(args.out) / slug(subject), seed=args.seed + i,
                            n_tasks=args.n_tasks, min_records=args.min_records, evolve=not args.no_evolve,
                            temperature=args.temperature)
        counts = report.filter.as_dict()
        status = "ok" if report.ok else f"rejected at {report.rejected['stage']}: {report.rejected['reason'][:120]}"
        print(f"{subject}: {status}; kept {counts['kept']}/{counts['candidates']} tasks {counts['rejected']}")
        failed += not report.ok
    return 1 if failed == len(subjects) else 0
