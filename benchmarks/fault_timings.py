"""What a backend fault costs an env step: requests made, wall time, billed latency and tokens.

    orchestra bench fault-timings [--repeats 3]
    python -m benchmarks.fault_timings --out results/fault_timings

Each case is one FRAMES-v0 step (``charge_orchestrator=False``) whose backend misbehaves:
expert faults come from the loopback :class:`benchmarks.fault_server.FaultServer` behind the
experts-pool config a user writes (gpt-5-mini over HTTP, everything else simulated), sandbox
faults from the program the policy sends to ``python``. The same cases are asserted, by
behaviour and not by the clock, in tests/test_env_faults.py; this script measures their times,
which depend on the machine and its load (the record has both). Per case: the outcome (the
start of the error, or ``ok``), requests the server saw, the median and max wall time of the
step over ``repeats`` runs, the latency the step billed and the tokens it charged.
"""
from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from benchmarks.common import RunConfig, markdown_table, parse_run_config, run_recorded
from benchmarks.fault_server import Fault, FaultServer

KEY = "sk-fault-timings-0123456789abcdef"
REASON = {"tool": "enhance_reasoning", "arguments": {"model": "reasoner-2"}}


@dataclass
class FaultTimingsConfig(RunConfig):
    repeats: int = field(default=3, metadata={"help": "runs of each case (median and max are reported)"})
    out: str = field(default="results/fault_timings", metadata={"help": "output stem"})


@dataclass(frozen=True)
class Case:
    """A fault, the settings that meet it, and how to make it happen."""

    fault: str
    settings: str
    script: Callable[[], list[Fault]] | None  # None: no expert server involved
    expert: dict[str, Any] = field(default_factory=dict)  # options of the gpt-5-mini endpoint
    env: dict[str, Any] = field(default_factory=dict)  # extra gym.make kwargs
    action: dict[str, Any] = field(default_factory=lambda: dict(REASON))
    unreachable: bool = False  # point the pool at a port nobody listens on


def python(code: str) -> dict[str, Any]:
    return {"tool": "python", "arguments": {"code": code}}


CASES: tuple[Case, ...] = (
    Case("429 (Retry-After 0.1 s), 429, then 200", "backoff 0.02 s",
         lambda: [Fault("status", 429, retry_after="0.1"), Fault("status", 429),
                  Fault("ok", prompt_tokens=123, completion_tokens=45)]),
    Case("200 without choices (billed 10/5 tokens), then 400", "",
         lambda: [Fault("no_choices", prompt_tokens=10, completion_tokens=5), Fault("status", 400)]),
    Case("503 forever", "deadline 1 s, backoff 0.05 s, up to 50 retries", lambda: [Fault("status", 503)] * 200,
         {"max_retries": 50, "backoff_s": 0.05, "deadline_s": 1.0}),
    Case("503 forever", "deadline 5 s, backoff 1 s, 4 retries", lambda: [Fault("status", 503)] * 200,
         {"max_retries": 4, "backoff_s": 1.0, "deadline_s": 5.0}),
    Case("server hangs 5 s", "attempt timeout 0.3 s, deadline 1 s", lambda: [Fault("slow", delay=5.0)] * 5,
         {"timeout_s": 0.3, "deadline_s": 1.0}),
    Case("body drips one byte per 50 ms", "deadline 1 s", lambda: [Fault("drip", delay=0.05)] * 5,
         {"deadline_s": 1.0}),
    Case("nobody listening (connection refused)", "2 retries, backoff 0.05 s", lambda: [],
         {"max_retries": 2, "backoff_s": 0.05}, unreachable=True),
    Case("`while True: pass`", "sandbox timeout 1 s", None, env={"sandbox_options": {"timeout_s": 1.0}},
         action=python("while True:\n    pass")),
    Case("`'a' * 10**10`", "memory 1024 MB", None, env={"sandbox_options": {"memory_mb": 1024}},
         action=python("x = 'a' * 10**10")),
    Case("`print('y' * 10**8)`", "default output cap", None, action=python("print('y' * 10**8)")),
)


def expert_pool(base_url: str, **options: Any) -> dict[str, Any]:
    spec = {"backend": "openai", "base_url": base_url, "api_key": KEY, "timeout_s": 1.0, "max_retries": 4,
            "backoff_s": 0.02, "deadline_s": 2.0, **options}
    return {"default": "simulated", "models": {"gpt-5-mini": spec}}


def one_run(case: Case) -> dict[str, Any]:
    import gymnasium as gym

    import orchestra_env  # noqa: F401

    def step(experts: dict[str, Any] | None) -> tuple[dict[str, Any], float]:
        kwargs = {"charge_orchestrator": False, "max_turns": 10, **case.env}
        if experts is not None:
            kwargs["experts"] = experts
        env = gym.make("Orchestra/FRAMES-v0", **kwargs)
        env.reset(seed=0)
        t0 = time.monotonic()
        *_, info = env.step(case.action)
        elapsed = time.monotonic() - t0
        env.close()
        return info, elapsed

    requests: int | None = None
    if case.script is None:
        info, elapsed = step(None)
    elif case.unreachable:
        with FaultServer() as srv:
            url = srv.base_url  # closed on exit: then nobody listens there
        info, elapsed = step(expert_pool(url, **case.expert))
    else:
        with FaultServer(case.script()) as srv:
            info, elapsed = step(expert_pool(srv.base_url, **case.expert))
            requests = len(srv.seen)
    error = re.sub(r"^https?://\S+: ", "", info.get("error") or "ok")  # the port differs per run
    return {"outcome": error.splitlines()[0][:80], "requests": requests, "elapsed_s": elapsed,
            "billed_latency_s": float(info.get("latency_s", 0.0)), "tokens_in": int(info.get("tokens_in", 0)),
            "tokens_out": int(info.get("tokens_out", 0))}


def measure(config: FaultTimingsConfig) -> list[dict[str, Any]]:
    """One row per case: the last run's outcome and counts, wall time over ``repeats`` runs."""
    if config.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {config.repeats}")
    rows = []
    for case in CASES:
        runs = [one_run(case) for _ in range(config.repeats)]
        times = [r["elapsed_s"] for r in runs]
        last = runs[-1]
        rows.append({"fault": case.fault, "settings": case.settings, "outcome": last["outcome"],
                     "requests": last["requests"] if last["requests"] is not None else "",
                     "repeats": len(runs), "elapsed_s_median": statistics.median(times), "elapsed_s_max": max(times),
                     "billed_latency_s": last["billed_latency_s"], "tokens_in": last["tokens_in"],
                     "tokens_out": last["tokens_out"],
                     "same_outcome_every_run": all(r["outcome"] == last["outcome"] for r in runs)})
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    shown = [{**r, "outcome": f"`{r['outcome']}`"} for r in rows]
    columns = ["fault", "settings", "outcome", "requests", "elapsed_s_median", "elapsed_s_max",
               "billed_latency_s", "tokens_in", "tokens_out"]
    return markdown_table(shown, columns, ".2f")


def main(argv: Sequence[str] | None = None, config: FaultTimingsConfig | None = None) -> int:
    config = config or parse_run_config(argv, FaultTimingsConfig(), __doc__)
    rows, record, paths = run_recorded("fault_timings", config, measure, markdown=markdown)
    print(markdown(rows))
    print(f"wrote {', '.join(map(str, paths))} ({record.duration_s:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
