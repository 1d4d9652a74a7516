"""ToolScale synthesis demo: the pipeline end to end against our own OpenAI-compatible server.

    python -m benchmarks.synthesis_demo [--out results/synthesis_demo]

No model is run: the server (``orchestra_env.experts.serve.make_server``) answers each stage
with the hand-written outputs of ``benchmarks/data/synthesis/movie_booking.json``, malformed
ones included, in the order below, and the client is the real ``OpenAICompatExpert``. What it
measures is the pipeline's behaviour on those answers: repairs per stage, the filter's
rejections per reason, and that every kept task replays gold to 1.0 and do-nothing to 0.0 in
the env. Writes ``<out>.csv``/``.json`` (one row per stage, per filter reason and per kept
task's replay), ``<out>.md`` (the tables docs/toolscale.md includes) and the synthesized
domain folder ``<out>/movie_booking``.
"""
from __future__ import annotations

import argparse
import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import markdown_table, run_recorded

# Shipped with the package (tests/fixtures/synthesis/movie_booking.json links here).
FIXTURE = Path(__file__).resolve().parent / "data" / "synthesis" / "movie_booking.json"
ORDER = ["schema_bad", "schema", "data_model", "database_bad", "database", "tools", "intents", "constraints"]


@dataclass
class DemoConfig:
    seed: int = 0
    subject: str = "movie ticket booking"
    answers: list[str] = field(default_factory=lambda: list(ORDER))
    out: str = "results/synthesis_demo"
    experts: dict[str, Any] = field(default_factory=lambda: {
        "synthesis": "scripted answers from benchmarks/data/synthesis/movie_booking.json via experts/serve.py"})

    def recorded(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("out", "experts")}


class CannedAnswers:
    """An Expert that answers each request with the next canned stage output."""

    def __init__(self, answers: list[Any]) -> None:
        self._answers, self._lock = list(answers), threading.Lock()

    def complete(self, request: Any) -> Any:
        from orchestra_env.experts.base import ExpertResponse
        from orchestra_env.usage import approx_tokens

        with self._lock:
            answer = self._answers.pop(0) if self._answers else "no more answers"
        text = answer if isinstance(answer, str) else json.dumps(answer)
        return ExpertResponse(text, approx_tokens(request.prompt_text), approx_tokens(text), 0.0)


def replay_scores(folder: Path) -> list[tuple[str, float, float]]:
    """(task id, gold reward, do-nothing reward) of every kept task, in the env."""
    import gymnasium as gym

    import orchestra_env  # noqa: F401

    env = gym.make("Orchestra/ToolScale-v0", domain_path=str(folder))
    out = []
    for i, task in enumerate(env.unwrapped.tasks):
        env.reset(seed=i, options={"task_index": i})
        for a in task.metadata["actions"]:
            env.step({"tool": a["name"], "arguments": a["arguments"]})
        _, gold, *_ = env.step("Done. " + "; ".join(task.metadata["required"]) + ". Goodbye!")
        env.reset(seed=i, options={"task_index": i})
        _, idle, *_ = env.step("Goodbye!")
        out.append((task.task_id, float(gold), float(idle)))
    return out


def run(config: DemoConfig) -> list[dict[str, Any]]:
    from orchestra_env.domains.toolscale.synthesis import synthesize
    from orchestra_env.experts import OpenAICompatExpert
    from orchestra_env.experts.serve import make_server

    canned = json.loads(FIXTURE.read_text())
    server = make_server(CannedAnswers([canned[n] for n in config.answers]), "scripted-llm")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    expert = OpenAICompatExpert(f"http://{host}:{port}/v1", api_key_env=None, max_retries=0, deadline_s=60)
    try:
        report = synthesize(config.subject, expert, "scripted-llm", Path(config.out) / "movie_booking",
                            seed=config.seed)
    finally:
        expert.close()
        server.shutdown()
        server.server_close()
    rows: list[dict[str, Any]] = [
        {"kind": "stage", "name": s.stage, "count": s.attempts, "detail": "; ".join(s.errors)} for s in report.stages]
    summary = report.filter.as_dict()
    rows.append({"kind": "filter", "name": "candidates", "count": summary["candidates"], "detail": ""})
    rows.append({"kind": "filter", "name": "kept", "count": summary["kept"], "detail": ""})
    rows += [{"kind": "rejected", "name": r, "count": n, "detail": ""} for r, n in summary["rejected"].items()]
    if report.ok:
        for task_id, gold, idle in replay_scores(report.folder):
            rows.append({"kind": "replay", "name": task_id, "count": 1, "detail": f"gold={gold} do_nothing={idle}"})
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The stages' repairs, the filter's counts per reason and the kept tasks' replays."""
    of = lambda kind: [r for r in rows if r["kind"] == kind]  # noqa: E731
    stages = [{"stage": r["name"], "attempts": r["count"], "error fed back": f"`{r['detail']}`" if r["detail"] else ""}
              for r in of("stage")]
    counts = {r["name"]: r["count"] for r in of("filter")}
    filtered = [{"outcome": "candidates", "tasks": counts.get("candidates", 0)},
                {"outcome": "kept", "tasks": counts.get("kept", 0)},
                *({"outcome": f"rejected: `{r['name']}`", "tasks": r["count"]} for r in of("rejected"))]
    replays = [{"kept task": f"`{r['name']}`", **dict(kv.split("=") for kv in r["detail"].split())}
               for r in of("replay")]
    parts = [markdown_table(stages), markdown_table(filtered)]
    if replays:
        parts.append(markdown_table(replays, ["kept task", "gold", "do_nothing"]))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=DemoConfig.out)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows, _, paths = run_recorded("synthesis_demo", DemoConfig(seed=args.seed, out=args.out), run,
                                markdown=markdown)
    for row in rows:
        print(f"{row['kind']:9s} {row['name']:40s} {row['count']:3d} {row['detail']}")
    print("wrote", *paths)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
