"""Rollout scaling: episodes/s of Ray env actors here (1 and 2 workers), and a discrete-event
simulation of 8, 64 and 512 workers against endpoint concurrency limits.

**Measured** (this machine): FRAMES-v0 with the simulated pool and the ``random`` baseline
(seeded per episode), run in-process (plain Python, no Ray) and through
:class:`agents.scaleout.ray_workers.RolloutPool` with 1 and 2 workers (``max_in_flight=2``,
one warm-up round untimed). Efficiency = rate(n) / (n x rate(1)). The simulated pool answers
in microseconds, so this measures the env and Ray's per-episode overhead, the worst case for
scaling; on a shared 2-core machine the load average is recorded with each row.

**Simulated** (what a cluster would see): the same episodes are recorded step by step: the
endpoint each step called (the expert alias, or the tool for model-free tools) and the latency
the simulated pool reports for it (calibrated to the real models' latencies, see
docs/experts.md). ``W`` workers then run episodes back to back, drawn with replacement from
the recording. Each turn is a policy generation of ``policy_step_s`` seconds (the policy
servers are assumed to scale with the workers: no queue) followed by the step's call on its
endpoint. Each endpoint serves at most ``C`` requests at once, FIFO, with unchanged service
time (a server at its concurrency limit is assumed to hold its per-request latency; beyond
it requests queue, as :mod:`orchestra_env.experts.limits` makes them). Model-free tools
(search index, sandbox) are local to the worker: no limit. Reported: episodes/s over
``sim_episodes`` completed episodes, mean queueing per call, and the busiest endpoint's
utilisation.

    python -m benchmarks.rollout_scaling --out results/rollout_scaling
"""
from __future__ import annotations

import argparse
import collections
import heapq
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from benchmarks.common import BenchConfig, markdown_table, result_path, run_recorded

Episode = list[tuple[str | None, float]]  # (endpoint or None for a local tool, latency_s) per step


@dataclass
class ScalingConfig(BenchConfig):
    env_id: str = "Orchestra/FRAMES-v0"
    policy: str = "random"
    episodes: int = 300  # timed episodes per measured configuration
    workers: list[int] = field(default_factory=lambda: [1, 2])
    sim_workers: list[int] = field(default_factory=lambda: [8, 64, 512])
    sim_limits: list[int] = field(default_factory=lambda: [8, 32, 128, 0])  # 0 = no limit
    sim_episodes: int = 5000
    policy_step_s: float = 0.5
    out: str = "results/rollout_scaling"


# ---------------------------------------------------------------------------- measured
def record_episodes(config: ScalingConfig, n: int) -> list[Episode]:
    """Run ``n`` episodes in this process and keep each step's endpoint and latency."""
    from agents.scaleout.ray_workers import BaselineRunner, EnvSpec, requests_for

    env = EnvSpec(config.env_id).make()
    runner = BaselineRunner(config.policy)
    episodes = []
    for request in requests_for(range(config.seed, config.seed + n)):
        # the runner keeps actions and outputs; latency comes from the env's info per step
        steps: Episode = []
        policy = runner._build(request.seed)
        obs, info = env.reset(seed=request.seed)
        policy.begin(env, obs, info)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy.act(obs, info))
            steps.append((info.get("model") or None, float(info.get("latency_s", 0.0))))
            done = terminated or truncated
        episodes.append(steps)
    env.close()
    return episodes


def measure_plain(config: ScalingConfig) -> float:
    from agents.scaleout.ray_workers import BaselineRunner, EnvSpec, requests_for

    env, runner = EnvSpec(config.env_id).make(), BaselineRunner(config.policy)
    for r in requests_for(range(10)):  # warm-up: index loads
        runner.run(env, r)
    start = time.perf_counter()
    for r in requests_for(range(config.seed, config.seed + config.episodes)):
        runner.run(env, r)
    return config.episodes / (time.perf_counter() - start)


def measure_ray(config: ScalingConfig, workers: int) -> float:
    from agents.scaleout.ray_workers import BaselineRunner, EnvSpec, RolloutPool, requests_for

    pool = RolloutPool(EnvSpec(config.env_id), BaselineRunner(config.policy), num_workers=workers, max_in_flight=2)
    try:
        pool.run(requests_for(range(10 * workers), start_id=10**6), timeout_s=300)  # actors up, indices loaded
        start = time.perf_counter()
        results = pool.run(requests_for(range(config.seed, config.seed + config.episodes)), timeout_s=300)
        rate = len(results) / (time.perf_counter() - start)
    finally:
        pool.close()
    return rate


# ---------------------------------------------------------------------------- simulated
def simulate(episodes: Sequence[Episode], workers: int, limit: int | None, policy_step_s: float,
             n_episodes: int, seed: int = 0) -> dict[str, float]:
    """Discrete-event simulation (module docstring); ``limit=None``: endpoints never queue."""
    rng = np.random.default_rng(seed)
    events: list[tuple[float, int, int, str]] = []  # (time, seq, worker, kind)
    seq = 0
    plan: list[Episode] = [[] for _ in range(workers)]
    pos = [0] * workers
    free: dict[str, int] = collections.defaultdict(lambda: limit or 10**9)
    waiting: dict[str, collections.deque] = collections.defaultdict(collections.deque)
    busy_s: dict[str, float] = collections.defaultdict(float)
    calls, queued_s, done, now = 0, 0.0, 0, 0.0
    current: dict[int, tuple[str | None, float, float]] = {}  # worker -> (endpoint, latency, asked_at)

    def push(t: float, w: int, kind: str) -> None:
        nonlocal seq
        heapq.heappush(events, (t, seq, w, kind))
        seq += 1

    def new_episode(w: int, t: float) -> None:
        plan[w], pos[w] = episodes[int(rng.integers(len(episodes)))], 0
        push(t + policy_step_s, w, "call")

    def start(w: int, t: float) -> None:
        nonlocal queued_s
        endpoint, latency, asked = current[w]
        queued_s += t - asked
        push(t + latency, w, "return")

    for w in range(workers):
        new_episode(w, 0.0)
    while done < n_episodes:
        now, _, w, kind = heapq.heappop(events)
        if kind == "call":
            endpoint, latency = plan[w][pos[w]]
            current[w] = (endpoint, latency, now)
            calls += 1
            if endpoint is None or free[endpoint] > 0:
                if endpoint is not None:
                    free[endpoint] -= 1
                start(w, now)
            else:
                waiting[endpoint].append(w)
        else:  # return: free the slot, hand it to the next waiter, go on with this episode
            endpoint = current[w][0]
            if endpoint is not None:
                busy_s[endpoint] += current[w][1]  # counted when served: utilisation <= 1
                if waiting[endpoint]:
                    start(waiting[endpoint].popleft(), now)
                else:
                    free[endpoint] += 1
            pos[w] += 1
            if pos[w] == len(plan[w]):
                done += 1
                new_episode(w, now)
            else:
                push(now + policy_step_s, w, "call")
    busiest = max(busy_s.values()) / (now * limit) if busy_s and limit else None
    return {"episodes_per_s": done / now, "mean_queue_s_per_call": queued_s / calls,
            "busiest_endpoint_utilisation": busiest}


def run(config: ScalingConfig) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    load = lambda: round(os.getloadavg()[0], 2)  # noqa: E731
    plain = measure_plain(config)
    rows.append({"kind": "measured", "setup": "in-process (no Ray)", "workers": 1, "episodes_per_s": plain,
                 "efficiency": None, "load_avg_1m": load()})
    rates = {}
    for n in config.workers:
        rates[n] = measure_ray(config, n)
        rows.append({"kind": "measured", "setup": "Ray actors (address=local)", "workers": n,
                     "episodes_per_s": rates[n], "efficiency": rates[n] / (n * rates[config.workers[0]]),
                     "load_avg_1m": load()})
    recorded = record_episodes(config, config.episodes)
    steps = [s for e in recorded for s in e]
    lat = np.array([s[1] for s in steps])
    rows.append({"kind": "recording", "setup": f"{len(recorded)} episodes, {len(steps)} steps",
                 "mean_steps": len(steps) / len(recorded), "latency_p50_s": float(np.median(lat)),
                 "latency_p90_s": float(np.quantile(lat, 0.9)), "endpoints": len({s[0] for s in steps if s[0]})})
    for w in config.sim_workers:
        for limit in config.sim_limits:
            sim = simulate(recorded, w, limit or None, config.policy_step_s, config.sim_episodes, config.seed)
            rows.append({"kind": "simulated", "setup": f"limit {limit or 'none'} per endpoint", "workers": w,
                         "endpoint_limit": limit or None, **sim})
        free_rate = max(r["episodes_per_s"] for r in rows[-len(config.sim_limits):])
        for row in rows[-len(config.sim_limits):]:
            row["efficiency_vs_no_limit"] = row["episodes_per_s"] / free_rate
    return rows


def _extra(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--episodes", type=int, default=ScalingConfig.episodes, help="timed episodes per setup")
    parser.add_argument("--policy-step-s", type=float, default=ScalingConfig.policy_step_s,
                        help="simulated policy generation time per turn (default %(default)s s)")


def main(argv: Sequence[str] | None = None, config: ScalingConfig | None = None) -> list[dict[str, Any]]:
    from benchmarks.common import parse_config

    config = config or parse_config(argv, ScalingConfig(), __doc__, _extra)
    rows, record, paths = run_recorded("rollout_scaling", config, run)
    md = result_path(config.out, ".md")
    parts = [f"Rollout scaling: commit {record.git_commit}, seed {record.seed}, {record.duration_s:.0f} s run.\n"]
    for kind in ("measured", "recording", "simulated"):
        parts.append(f"*{kind}*\n\n" + markdown_table([r for r in rows if r["kind"] == kind]) + "\n")
    md.write_text("\n".join(parts))
    print(md.read_text())
    print(f"wrote {', '.join(map(str, paths))}, {md}")
    return rows


if __name__ == "__main__":
    main()
