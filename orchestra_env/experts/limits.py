"""Endpoint concurrency limits and one shared rate limiter for real expert backends.

Hundreds of envs stepping at once would otherwise send hundreds of simultaneous requests to
one vLLM server (whose queue then grows without bound and whose latency explodes) or to a
hosted API (which answers 429 and makes every retry loop back off). Two knobs, as serving
stacks meter load:

* ``max_concurrency`` per **endpoint** (a ``base_url``): requests in flight at once. Aliases
  that point at the same server share its limit.
* one token-bucket :class:`RateLimiter` (requests per second, a burst) shared by every
  endpoint of the pool: an account-wide quota.

A request that cannot get a slot within ``acquire_timeout_s`` is not sent: it returns an
``ExpertResponse`` with ``error`` set, as a transport failure does, so an RL rollout never
hangs on a saturated endpoint.

Config (extends :meth:`ExpertPool.from_config`'s, see :func:`limited_pool`)::

    default: simulated
    rate_limit: {requests_per_s: 50, burst: 100}        # shared by all endpoints
    models:
      answer-1: {backend: openai, base_url: http://127.0.0.1:8000/v1, model: policy,
                 max_concurrency: 8}
      answer-2: {backend: openai, base_url: http://127.0.0.1:8000/v1, model: policy}  # shares the 8
      answer-3: {backend: vllm, path: /models/Qwen3-8B, max_concurrency: 16}  # starts a server
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from orchestra_env.experts.base import Expert, ExpertRequest, ExpertResponse


class Limiter(Protocol):
    """Anything that admits a request, possibly after a wait; ``False`` when it timed out."""

    def acquire(self, timeout_s: float | None = None) -> bool: ...


class RateLimiter:
    """A thread-safe token bucket: ``requests_per_s`` on average, ``burst`` at once.

    Waiting callers are served in turn (each reserves its slot before sleeping), so a burst of
    envs is spread out instead of all retrying at the same instant.
    """

    def __init__(self, requests_per_s: float, burst: int = 1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if requests_per_s <= 0 or burst < 1:
            raise ValueError(f"rate_limit needs requests_per_s > 0 and burst >= 1, got {requests_per_s}, {burst}")
        self.rate, self.burst = float(requests_per_s), int(burst)
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self, timeout_s: float | None = None) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
            if timeout_s is not None and wait > timeout_s:
                return False
            self._tokens -= 1  # reserved: the next caller waits behind us
        if wait > 0:
            self._sleep(wait)
        return True


@dataclass
class EndpointStats:
    sent: int = 0
    rejected: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    waited_s: float = 0.0


class Endpoint:
    """The concurrency limit of one server, shared by every alias routed to it."""

    def __init__(self, name: str, max_concurrency: int | None) -> None:
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency of {name} must be >= 1 (or absent for no limit), not {max_concurrency}")
        self.name, self.max_concurrency = name, max_concurrency
        self._slots = threading.BoundedSemaphore(max_concurrency) if max_concurrency else None
        self._lock = threading.Lock()
        self.stats = EndpointStats()

    def enter(self, timeout_s: float | None) -> bool:
        if self._slots is not None and not self._slots.acquire(timeout=timeout_s):
            return False
        with self._lock:
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        return True

    def leave(self) -> None:
        with self._lock:
            self.stats.in_flight -= 1
        if self._slots is not None:
            self._slots.release()


class LimitedExpert:
    """An expert behind its endpoint's concurrency limit and the pool's rate limiter."""

    def __init__(self, inner: Expert, endpoint: Endpoint, rate: Limiter | None = None,
                 acquire_timeout_s: float = 60.0) -> None:
        self.inner, self.endpoint, self.rate, self.acquire_timeout_s = inner, endpoint, rate, acquire_timeout_s

    def __repr__(self) -> str:
        return f"LimitedExpert({self.inner!r}, endpoint={self.endpoint.name!r}, max_concurrency={self.endpoint.max_concurrency})"

    def complete(self, request: ExpertRequest) -> ExpertResponse:
        start = time.monotonic()
        stats = self.endpoint.stats
        if not self.endpoint.enter(self.acquire_timeout_s):
            stats.rejected += 1
            return ExpertResponse("", 0, 0, time.monotonic() - start,
                                  error=f"{self.endpoint.name}: no free slot within {self.acquire_timeout_s}s "
                                        f"(max_concurrency={self.endpoint.max_concurrency})")
        try:
            remaining = max(0.0, self.acquire_timeout_s - (time.monotonic() - start))
            if self.rate is not None and not self.rate.acquire(remaining):
                stats.rejected += 1
                return ExpertResponse("", 0, 0, time.monotonic() - start,
                                      error=f"{self.endpoint.name}: rate limit not met within {self.acquire_timeout_s}s")
            stats.waited_s += time.monotonic() - start
            stats.sent += 1
            response = self.inner.complete(request)
        finally:
            self.endpoint.leave()
        waited = time.monotonic() - start - response.latency_s
        # the env bills latency: queueing for a slot is part of what the orchestrator waits
        return ExpertResponse(response.text, response.tokens_in, response.tokens_out,
                              response.latency_s + max(0.0, waited), response.error)


LIMIT_KEYS = ("max_concurrency",)


def limited_pool(config: Mapping[str, Any], rate_limiter: Limiter | None = None,
                 acquire_timeout_s: float = 60.0) -> Any:
    """An :class:`~orchestra_env.experts.pool.ExpertPool` from ``config`` (module docstring)
    whose real backends sit behind per-endpoint limits and one shared rate limiter.

    ``{"backend": "vllm", "path": DIR}`` starts a vLLM server for that folder (one per folder,
    on 127.0.0.1; see :mod:`orchestra_env.experts.vllm_server`); ``pool.servers`` holds them
    and ``pool.close()`` stops them. ``rate_limiter`` overrides ``config["rate_limit"]``
    (e.g. one shared by several processes).
    """
    from orchestra_env.experts.pool import ExpertPool, build_backend

    config = dict(config)
    unknown = set(config) - {"default", "models", "rate_limit"}
    if unknown:
        raise ValueError(f"unknown expert-pool keys {sorted(unknown)}; use 'default', 'models' and 'rate_limit'")
    if rate_limiter is None and config.get("rate_limit"):
        rl = dict(config["rate_limit"])
        extra = set(rl) - {"requests_per_s", "burst"}
        if extra or "requests_per_s" not in rl:
            raise ValueError(f"rate_limit takes requests_per_s (required) and burst, got {sorted(rl)}")
        rate_limiter = RateLimiter(rl["requests_per_s"], rl.get("burst", 1))
    servers: dict[str, Any] = {}
    endpoints: dict[str, Endpoint] = {}

    def build(alias: str, spec: Any) -> Expert:
        spec = {"backend": spec} if isinstance(spec, str) else dict(spec)
        limit = spec.pop("max_concurrency", None)
        if spec.get("backend") == "vllm":
            spec = _vllm_spec(alias, spec, servers)
        expert = build_backend(spec)
        if spec.get("backend") == "simulated":
            return expert  # no endpoint to protect
        key = spec.get("base_url") or spec.get("path") or alias  # one endpoint per server
        endpoint = endpoints.setdefault(key, Endpoint(key, limit))
        if limit is not None and endpoint.max_concurrency != limit:
            raise ValueError(f"aliases on {key} disagree on max_concurrency ({endpoint.max_concurrency} vs {limit}): "
                             "it is a limit of the server, set it once")
        return LimitedExpert(expert, endpoint, rate_limiter, acquire_timeout_s)

    backends = {alias: build(alias, spec) for alias, spec in (config.get("models") or {}).items()}
    pool = ExpertPool(backends, build("default", config.get("default", "simulated")))
    pool.endpoints, pool.servers, pool.rate_limiter = endpoints, servers, rate_limiter
    pool.close = lambda: [s.stop() for s in servers.values()]
    return pool


def _vllm_spec(alias: str, spec: dict[str, Any], servers: dict[str, Any]) -> dict[str, Any]:
    """Start (or reuse) a server for ``spec['path']``; return the ``openai`` spec that calls it."""
    from orchestra_env.experts.vllm_server import VLLMServer

    path = spec.pop("path", None)
    if path is None:
        raise ValueError(f"{alias}: a 'vllm' backend needs 'path' (a local model folder)")
    server_opts = spec.pop("server", {}) or {}
    spec.pop("backend")
    if path not in servers:
        servers[path] = VLLMServer(path, served_name=server_opts.pop("served_name", "expert"), **server_opts).start()
    server = servers[path]
    return {"backend": "openai", "base_url": server.base_url, "model": server.served_name, "api_key_env": None, **spec}
