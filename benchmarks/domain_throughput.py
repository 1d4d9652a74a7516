"""How fast are the agentic domains? Reset (with the per-episode database copy and the
scripted user's opening) and tool-step latency, per environment id, over many episodes,
with no LLM anywhere.

    orchestra bench domain-throughput [--episodes 200] [--steps 5] [--only ToolScale]
    python -m benchmarks.domain_throughput --out results/domain_throughput

Each row is (label, env id, env kwargs, probe): the probe is the tool call a step makes (a
read tool, as in tau2's own gym measurement). tau2 rows are listed in ``TAU2_ROWS``; the
ToolScale rows (one per domain) read the first record of the domain's first top-level
collection with its ``get_*`` tool. ToolScale tasks are generated before timing, so a reset
is the task draw, the database copy and the opening only.

tau2-bench's own AgentGymEnv (mock, solo, no LLM) can be measured in the same run: install
tau2-bench into a *separate* virtual environment and pass its interpreter with
``--tau2-python /path/to/venv/bin/python``; the script then times ``AgentGymEnv`` through its
public API in a subprocess (tau2 is never imported here).
"""
from __future__ import annotations

import json
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import gymnasium as gym

import orchestra_env
from orchestra_env.domains.toolscale.db import load_domain

from benchmarks.common import RunConfig, markdown_table, parse_run_config, run_recorded

Row = tuple[str, str, dict[str, Any], dict[str, Any]]
TAU2_ROWS: list[Row] = [
    ("tau2 mock (solo)", "Orchestra/Tau2-mock-v0", {"solo": True}, {"tool": "get_users", "arguments": {}}),
    ("tau2 mock", "Orchestra/Tau2-mock-v0", {}, {"tool": "get_users", "arguments": {}}),
    ("tau2 airline", "Orchestra/Tau2-airline-v0", {},
     {"tool": "get_user_details", "arguments": {"user_id": "mia_li_3668"}}),
    ("tau2 airline search", "Orchestra/Tau2-airline-v0", {},
     {"tool": "search_direct_flight", "arguments": {"origin": "JFK", "destination": "SEA", "date": "2024-05-20"}}),
    ("tau2 retail", "Orchestra/Tau2-retail-v0", {},
     {"tool": "find_user_id_by_name_zip", "arguments": {"first_name": "Yusuf", "last_name": "Rossi", "zip": "19122"}}),
    ("tau2 telecom", "Orchestra/Tau2-telecom-v0", {},
     {"tool": "get_customer_by_phone", "arguments": {"phone_number": "555-123-2002"}}),
]


TOOLSCALE_TASKS = 50  # tasks per ToolScale env (generated before timing)


def toolscale_row(domain: str) -> Row:
    """A get_* of the first record of the domain's first top-level collection."""
    d = load_domain(domain)
    c = next(c for c in d.schema.collections.values() if c.parent is None)
    _, key, _ = next(d.new_db().records(c.name))
    return (f"ToolScale {domain}", f"Orchestra/ToolScale-{domain}-v0", {"num_tasks": TOOLSCALE_TASKS},
            {"tool": f"get_{c.singular}", "arguments": {c.key: key}})


def rows(only: str | None) -> list[Row]:
    """The rows whose label contains ``only`` (all when None); ToolScale probes built on demand."""
    out = [r for r in TAU2_ROWS if not only or only in r[0]]
    return out + [toolscale_row(d) for d in orchestra_env.TOOLSCALE_DOMAINS if not only or only in f"ToolScale {d}"]


def measure(env_id: str, kwargs: dict[str, Any], probe: dict[str, Any], episodes: int, steps: int) -> dict[str, float]:
    env = gym.make(env_id, max_turns=steps + 5, **kwargs).unwrapped
    for _ in env.tasks:  # generated tasks (ToolScale) are made on first access: not a reset's cost
        pass
    env.reset(seed=0)  # loads the database once per process: not part of a reset's cost
    _, _, _, _, info = env.step(probe)
    if info["error"]:
        raise RuntimeError(f"{env_id}: the probe {probe} fails: {info['error']}")
    resets, tool_steps = [], []
    for i in range(episodes):
        t = time.perf_counter()
        env.reset(seed=i)
        resets.append(time.perf_counter() - t)
        for _ in range(steps):
            t = time.perf_counter()
            env.step(probe)
            tool_steps.append(time.perf_counter() - t)
    return {
        "tasks": len(env.tasks),
        "reset_ms": 1000 * statistics.median(resets),
        "reset_p90_ms": 1000 * statistics.quantiles(resets, n=10)[-1],
        "step_ms": 1000 * statistics.median(tool_steps),
    }


TAU2_PROBE = r"""
import json, statistics, sys, time
from loguru import logger; logger.remove()
import gymnasium as gym
from tau2.gym import register_gym_agent, TAU_BENCH_ENV_ID
register_gym_agent()
episodes, steps = int(sys.argv[1]), int(sys.argv[2])
env = gym.make(TAU_BENCH_ENV_ID, domain="mock", task_id="create_task_1", solo_mode=True)
env.reset()
env.step(json.dumps({"name": "done", "arguments": {}}))
resets, tool_steps = [], []
for _ in range(episodes):
    t = time.perf_counter(); env.reset(); resets.append(time.perf_counter() - t)
    for _ in range(steps):
        t = time.perf_counter(); env.step(json.dumps({"name": "get_users", "arguments": {}}))
        tool_steps.append(time.perf_counter() - t)
    env.step(json.dumps({"name": "done", "arguments": {}}))  # end the episode before the next reset
print(json.dumps({"reset_ms": 1000 * statistics.median(resets), "step_ms": 1000 * statistics.median(tool_steps)}))
"""


def measure_tau2(python: str, episodes: int, steps: int) -> dict[str, float]:
    out = subprocess.run([python, "-c", TAU2_PROBE, str(episodes), str(steps)],
                         capture_output=True, text=True, timeout=1800, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@dataclass
class DomainThroughputConfig(RunConfig):
    episodes: int = field(default=200, metadata={"help": "timed episodes per env"})
    steps: int = field(default=5, metadata={"help": "tool steps per episode"})
    only: str = field(default="", metadata={"help": "run the rows whose label contains this text"})
    tau2_python: str = field(default="", metadata={"help": "interpreter of a venv with tau2-bench installed"})
    tau2_episodes: int = field(default=30, metadata={"help": "episodes of the tau2-bench reference"})
    out: str = field(default="results/domain_throughput", metadata={"help": "output stem"})


def run_all(config: DomainThroughputConfig) -> list[dict[str, Any]]:
    """One row per env (label, tasks, reset and step latency); with ``tau2_python``, tau2-bench's
    own AgentGymEnv measured the same way, last."""
    out: list[dict[str, Any]] = []
    for label, env_id, kwargs, probe in rows(config.only or None):
        try:
            r = measure(env_id, kwargs, probe, config.episodes, config.steps)
        except (KeyError, ImportError, ModuleNotFoundError) as exc:  # a domain not installed yet
            out.append({"domain": label, "env_id": env_id, "status": f"skipped: {exc}"})
            continue
        out.append({"domain": label, "env_id": env_id, "status": "ok", "source": "measured", **r})
    if config.tau2_python:  # the reference is a row only when measured here, on this machine
        ref = measure_tau2(config.tau2_python, config.tau2_episodes, config.steps)
        out.append({"domain": "tau2-bench AgentGymEnv mock (solo)", "env_id": "tau2.gym", "status": "ok",
                    "source": f"tau2-bench, measured ({config.tau2_episodes} episodes)", **ref})
    return out


def main(argv: Sequence[str] | None = None, config: DomainThroughputConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_run_config(argv, DomainThroughputConfig(), __doc__)
    def table(rows: list[dict[str, Any]]) -> str:
        columns = ["domain", "tasks", "reset_ms", "reset_p90_ms", "step_ms"]
        return markdown_table(rows, columns + ["source"] * bool(config.tau2_python), ".3f")

    rows, record, paths = run_recorded("domain_throughput", config, run_all, markdown=table)
    print(table(rows))
    print(f"wrote {', '.join(map(str, paths))} ({record.duration_s:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
