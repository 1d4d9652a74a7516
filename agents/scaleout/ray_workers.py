"""Rollout workers on Ray: env actors that each own their env (tools, DB copies, expert pool),
and a trainer-side pool that gathers finished episodes asynchronously.

Why this shape: an Orchestra episode is mostly waiting (search, sandbox, expert endpoints), so
throughput comes from many envs in flight, each in its own process with its own state; Ray
gives the processes, their placement on a cluster and their restarts. We add only what RL
needs on top:

* **Back-pressure**: :meth:`RolloutPool.imap` pulls a request from the caller's iterator only
  when a worker slot is free (``max_in_flight`` per worker), so a task sampler is never
  far ahead of the workers and nothing queues unboundedly.
* **Bounded staleness**: every episode records the policy version it ran with. After
  :meth:`RolloutPool.set_policy` moves to version ``v``, an episode from a version older
  than ``v - max_staleness`` is discarded and re-run (off-policy data within a known bound,
  as in asynchronous GRPO / verl's partial rollouts).
* **Faults**: actors are created with ``max_restarts``/``max_task_retries``, so Ray restarts a
  killed worker and re-runs its in-flight call; if Ray gives up, the pool requeues the
  request on a fresh actor (up to ``max_attempts``). An episode result is keyed by its
  ``episode_id``: a killed worker loses at most its in-flight episode and nothing is
  delivered twice.
* **Determinism**: an episode is a function of its request (env reset seed and options, the
  policy built for that seed), never of which worker ran it or what ran before, so 1 and N
  workers give the same trajectories.

The same code runs on one machine (``address="local"``: a private Ray instance bound to
127.0.0.1) and on a cluster (``address="auto"`` or ``"ray://head:10001"``).
"""
from __future__ import annotations

import collections
import importlib
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence

import gymnasium as gym

LOOPBACK = "127.0.0.1"


# ---------------------------------------------------------------------------- what runs where
@dataclass(frozen=True)
class EnvSpec:
    """How a worker builds its own env: a registered id (``Orchestra/FRAMES-v0``) or a
    ``module:Class`` entry point (e.g. ``agents.toy_env:OneRightModelEnv``), plus kwargs.

    Only this spec travels to the worker, never an env object: each worker builds its own
    tools, indices and DB copies, as a separate machine would have to.
    """

    env_id: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def make(self) -> gym.Env:
        import orchestra_env  # noqa: F401 - registers every Orchestra id in this process

        if ":" in self.env_id and "/" not in self.env_id:
            module, name = self.env_id.split(":", 1)
            return getattr(importlib.import_module(module), name)(**dict(self.kwargs))
        return gym.make(self.env_id, **dict(self.kwargs))


@dataclass(frozen=True)
class EpisodeRequest:
    """One episode to run: a unique id (the dedup key) and the arguments of ``env.reset``."""

    episode_id: int
    seed: int
    options: Mapping[str, Any] = field(default_factory=dict)
    group: int = 0


@dataclass
class EpisodeResult:
    """What a worker sends back: the runner's trajectory plus where and with what it ran."""

    episode_id: int
    group: int
    policy_version: int
    trajectory: Any
    worker_pid: int
    wall_s: float
    attempts: int = 1


class EpisodeRunner(Protocol):
    """Runs one episode in a worker. ``load_policy`` receives what :meth:`RolloutPool.set_policy`
    broadcast (weights, an adapter path, a vLLM model name...)."""

    def run(self, env: gym.Env, request: EpisodeRequest) -> Any: ...

    def load_policy(self, state: Any) -> None: ...


@dataclass
class StepRecord:
    action: Any
    reward: float
    output: str


@dataclass
class PolicyTrajectory:
    """A ``begin``/``act`` policy's episode: every action, reward and tool output, and the end."""

    steps: list[StepRecord]
    correct: bool
    features: dict[str, float]

    @property
    def env_return(self) -> float:
        return float(sum(s.reward for s in self.steps))


class BaselineRunner:
    """Runs a ``begin``/``act`` policy (e.g. ``agents.baselines.make_baseline(name)``) built
    fresh for each episode with ``seed=request.seed``, so an episode never depends on the
    episodes its worker ran before."""

    def __init__(self, policy: str | Callable[..., Any] = "random", max_steps: int = 1000, **kwargs: Any) -> None:
        self.policy, self.kwargs, self.max_steps = policy, kwargs, max_steps

    def _build(self, seed: int) -> Any:
        if callable(self.policy):
            return self.policy(seed=seed, **self.kwargs)
        from agents.baselines import make_baseline

        return make_baseline(self.policy, seed=seed, **self.kwargs)

    def load_policy(self, state: Any) -> None:
        """Baselines have no weights; the version is still recorded."""

    def run(self, env: gym.Env, request: EpisodeRequest) -> PolicyTrajectory:
        policy = self._build(request.seed)
        obs, info = env.reset(seed=request.seed, options=dict(request.options))
        policy.begin(env, obs, info)
        steps: list[StepRecord] = []
        for _ in range(self.max_steps):
            action = policy.act(obs, info)
            obs, reward, terminated, truncated, info = env.step(action)
            steps.append(StepRecord(action, float(reward), str(obs.get("output", ""))))
            if terminated or truncated:
                break
        else:
            raise RuntimeError(f"episode {request.episode_id} did not end within max_steps={self.max_steps}")
        return PolicyTrajectory(steps, bool(info.get("correct", False)), dict(info.get("features", {})))


class VLLMPolicyRunner:
    """An LLM policy in the worker that samples through a vLLM server: the worker holds only a
    tokenizer and an HTTP client, the trainer holds the model. Episodes are token sequences
    (:class:`agents.scaleout.verl_agent_loop.EpisodeTokens`: ids, mask 1 on sampled tokens,
    vLLM's logprobs), ready for the trainer to score. ``load_policy(name)`` switches to the
    adapter the trainer loaded into the server under ``name`` (see ``VLLMSync.push``)."""

    def __init__(self, tokenizer_dir: str, base_url: str, model: str = "policy", max_turns: int = 8,
                 max_new_tokens: int = 256, temperature: float = 1.0) -> None:
        self.tokenizer_dir, self.base_url, self.model = tokenizer_dir, base_url, model
        self.max_turns, self.max_new_tokens, self.temperature = max_turns, max_new_tokens, temperature
        self._tokenizer: Any = None
        self._backend: Any = None

    def __getstate__(self) -> dict[str, Any]:  # clients are per process: rebuilt in the worker
        return {**self.__dict__, "_tokenizer": None, "_backend": None}

    def load_policy(self, state: Any) -> None:
        if state:
            self.model = str(state)
            if self._backend is not None:
                self._backend.model = self.model

    def run(self, env: gym.Env, request: EpisodeRequest) -> Any:
        import asyncio

        import numpy as np

        from agents.scaleout.verl_agent_loop import TokenizerView, run_episode
        from agents.scaleout.vllm_generation import VLLMGeneration

        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_dir)
            self._backend = VLLMGeneration(self.base_url, self.model, temperature=self.temperature,
                                           stop_ids=TokenizerView(self._tokenizer).eos_ids)
        self._backend.rng = np.random.default_rng(request.seed)  # the samples follow the request, not the worker

        async def generate(ids: list[int], params: Mapping[str, Any]) -> tuple[list[int], list[float]]:
            (c,) = await asyncio.to_thread(self._backend.complete, [ids], self.max_new_tokens)
            return c.token_ids, c.logprobs

        reset = {"seed": request.seed, "options": dict(request.options)}
        return asyncio.run(run_episode(generate, self._tokenizer, env, reset, {}, self.max_turns))


class EnvWorker:
    """The body of one Ray actor: its own env, a runner, and the policy version it holds."""

    def __init__(self, env_spec: EnvSpec, runner: EpisodeRunner, slow_s: float = 0.0) -> None:
        self.env = env_spec.make()
        self.runner = runner
        self.version = -1
        self.slow_s = slow_s  # test hook: widen the window in which a call is in flight

    def run(self, request: EpisodeRequest, version: int, state: Any) -> EpisodeResult:
        if version != self.version:  # a fresh or restarted actor catches up here
            self.runner.load_policy(state)
            self.version = version
        start = time.perf_counter()
        if self.slow_s:
            time.sleep(self.slow_s)
        trajectory = self.runner.run(self.env, request)
        return EpisodeResult(request.episode_id, request.group, version, trajectory, os.getpid(),
                             time.perf_counter() - start)

    def pid(self) -> int:
        return os.getpid()


# ---------------------------------------------------------------------------- Ray session
def connect(address: str = "local", num_cpus: int | None = None, **init_kwargs: Any) -> Any:
    """``ray.init`` once per process. ``"local"`` starts a private instance on 127.0.0.1 only
    (no dashboard); any other address joins that cluster as it is configured."""
    if address == "local":
        # Without this Ray takes the machine's external address (and silently overrides the
        # node IP below); Ray reads it when first imported, hence before the import.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - exercised where ray is absent
        raise ImportError("Ray rollout workers need ray: pip install 'orchestra-env[ray]'") from exc
    if ray.is_initialized():
        return ray
    if address == "local":
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False  # in case ray was imported before the line above
        init_kwargs.setdefault("_node_ip_address", LOOPBACK)
        init_kwargs.setdefault("include_dashboard", False)
        init_kwargs.setdefault("num_cpus", num_cpus)
        init_kwargs.setdefault("log_to_driver", False)
        # Local workers inherit this process's environment (PYTHONPATH included), so they
        # import agents/ and orchestra_env/ from where the driver does.
    ray.init(address=address, **init_kwargs)
    return ray


@dataclass
class PoolStats:
    """Counters a trainer logs: what was lost, retried or thrown away as stale."""

    completed: int = 0
    worker_failures: int = 0
    requeued: int = 0
    stale_discarded: int = 0
    duplicates_dropped: int = 0
    actors_replaced: int = 0


class RolloutPool:
    """``num_workers`` env actors and the trainer's side of them.

    Args:
        env_spec: what each worker builds.
        runner: what each worker runs per episode (pickled to the workers).
        num_workers: env actors.
        address: ``"local"`` (this machine, loopback only) or a Ray cluster address.
        max_in_flight: requests outstanding per worker (1 = strict back-pressure; 2 hides the
            round trip).
        max_staleness: accept episodes at most this many policy versions old.
        max_restarts, max_task_retries: Ray's own restart of a dead actor and re-run of its
            in-flight call.
        max_attempts: how often the pool itself resubmits a request Ray gave up on.
        num_cpus_per_worker: Ray resources per actor.
    """

    def __init__(self, env_spec: EnvSpec, runner: EpisodeRunner, num_workers: int = 2, address: str = "local",
                 max_in_flight: int = 1, max_staleness: int = 1, max_restarts: int = 1,
                 max_task_retries: int = 1, max_attempts: int = 3, num_cpus_per_worker: float = 1.0,
                 num_cpus: int | None = None, worker_slow_s: float = 0.0) -> None:
        if num_workers < 1 or max_in_flight < 1:
            raise ValueError(f"num_workers ({num_workers}) and max_in_flight ({max_in_flight}) must be >= 1")
        if max_staleness < 0:
            raise ValueError(f"max_staleness must be >= 0, not {max_staleness}")
        self.ray = connect(address, num_cpus=num_cpus)
        self.env_spec, self.runner = env_spec, runner
        self.max_in_flight, self.max_staleness, self.max_attempts = max_in_flight, max_staleness, max_attempts
        self._actor_cls = self.ray.remote(
            num_cpus=num_cpus_per_worker, max_restarts=max_restarts, max_task_retries=max_task_retries,
        )(EnvWorker)
        self._slow_s = worker_slow_s
        self.workers = [self._new_actor() for _ in range(num_workers)]
        self.version = 0
        self._state_ref = self.ray.put(None)
        self.stats = PoolStats()

    def _new_actor(self) -> Any:
        return self._actor_cls.remote(self.env_spec, self.runner, self._slow_s)

    # ------------------------------------------------------------------ policy broadcast
    def set_policy(self, state: Any, version: int | None = None) -> int:
        """Publish new policy state; workers load it before their next episode. Returns the
        new version. The state is put in the object store once, not sent per request."""
        self.version = self.version + 1 if version is None else version
        self._state_ref = self.ray.put(state)
        return self.version

    # ------------------------------------------------------------------ gathering
    def imap(self, requests: Iterable[EpisodeRequest], timeout_s: float | None = None) -> Iterator[EpisodeResult]:
        """Yield each request's result as soon as it is done (completion order).

        Requests are drawn from ``requests`` only when a worker slot is free. A stale result
        (see ``max_staleness``) or one from a worker that died is re-run; each ``episode_id``
        is yielded exactly once. ``timeout_s`` bounds the whole call.
        """
        ray = self.ray
        source = iter(requests)
        retry: collections.deque[tuple[EpisodeRequest, int]] = collections.deque()
        in_flight: dict[Any, tuple[int, EpisodeRequest, int]] = {}  # ref -> (worker, request, attempt)
        load = [0] * len(self.workers)
        seen: set[int] = set()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        exhausted = False

        def dispatch() -> None:
            nonlocal exhausted
            while True:
                free = [w for w in range(len(self.workers)) if load[w] < self.max_in_flight]
                if not free:
                    return
                if retry:
                    request, attempt = retry.popleft()
                elif not exhausted:
                    try:
                        request, attempt = next(source), 1
                    except StopIteration:
                        exhausted = True
                        continue
                else:
                    return
                w = min(free, key=lambda i: (load[i], i))
                ref = self.workers[w].run.remote(request, self.version, self._state_ref)
                in_flight[ref] = (w, request, attempt)
                load[w] += 1

        dispatch()
        while in_flight:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=wait)
            if not done:
                raise TimeoutError(f"RolloutPool.imap: {len(in_flight)} episodes still running after {timeout_s}s")
            ref = done[0]
            w, request, attempt = in_flight.pop(ref)
            load[w] -= 1
            try:
                result: EpisodeResult = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                self.stats.worker_failures += 1
                if attempt >= self.max_attempts:
                    raise RuntimeError(f"episode {request.episode_id} failed {attempt} times; last: {exc}") from exc
                if not self._alive(w):
                    self.workers[w] = self._new_actor()
                    self.stats.actors_replaced += 1
                retry.append((request, attempt + 1))
                self.stats.requeued += 1
                dispatch()
                continue
            if result.policy_version < self.version - self.max_staleness:
                self.stats.stale_discarded += 1
                retry.append((request, attempt))
                dispatch()
                continue
            if result.episode_id in seen:
                self.stats.duplicates_dropped += 1
                dispatch()
                continue
            seen.add(result.episode_id)
            result.attempts = attempt
            self.stats.completed += 1
            dispatch()  # refill before handing control back: workers keep running meanwhile
            yield result

    def run(self, requests: Sequence[EpisodeRequest], timeout_s: float | None = None) -> list[EpisodeResult]:
        """All results, ordered by ``episode_id`` (a deterministic batch for the trainer)."""
        ids = [r.episode_id for r in requests]
        if len(set(ids)) != len(ids):
            raise ValueError("episode_id must be unique within a batch (it is the dedup key)")
        return sorted(self.imap(requests, timeout_s), key=lambda r: r.episode_id)

    # ------------------------------------------------------------------ lifecycle
    def _alive(self, w: int) -> bool:
        try:
            self.ray.get(self.workers[w].pid.remote(), timeout=30)
            return True
        except Exception:  # noqa: BLE001 - any failure means: replace it
            return False

    def worker_pids(self) -> list[int]:
        return self.ray.get([w.pid.remote() for w in self.workers])

    def kill_worker(self, index: int, restart: bool = True) -> None:
        """Kill one actor (for fault drills); with ``restart`` Ray brings it back."""
        self.ray.kill(self.workers[index], no_restart=not restart)

    def close(self) -> None:
        for w in self.workers:
            self.ray.kill(w, no_restart=True)
        self.workers = []


def requests_for(seeds: Sequence[int], options: Sequence[Mapping[str, Any]] | None = None,
                 start_id: int = 0) -> list[EpisodeRequest]:
    """Requests with consecutive ids for the given reset seeds (and options)."""
    options = list(options) if options is not None else [{}] * len(seeds)
    return [EpisodeRequest(start_id + i, int(s), dict(o)) for i, (s, o) in enumerate(zip(seeds, options))]
