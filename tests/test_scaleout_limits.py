"""Per-endpoint concurrency limits and the shared rate limiter (orchestra_env.experts.limits)."""
from __future__ import annotations

import concurrent.futures
import time

import pytest

from fault_server import Fault, FaultServer
from orchestra_env.experts.base import ExpertRequest
from orchestra_env.experts.limits import RateLimiter, limited_pool


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def test_token_bucket_admits_the_burst_then_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(requests_per_s=5, burst=2, clock=clock, sleep=clock.sleep)
    for _ in range(12):
        assert limiter.acquire()
    assert clock.now == pytest.approx((12 - 2) / 5)  # 2 free, then one every 0.2 s


def test_token_bucket_refuses_when_the_wait_exceeds_the_timeout():
    clock = FakeClock()
    limiter = RateLimiter(requests_per_s=1, burst=1, clock=clock, sleep=clock.sleep)
    assert limiter.acquire(timeout_s=0)
    assert not limiter.acquire(timeout_s=0.5)  # next token in 1 s
    assert clock.now == 0.0  # a refusal does not sleep
    assert limiter.acquire(timeout_s=1.0) and clock.now == pytest.approx(1.0)


def request(model: str) -> ExpertRequest:
    return ExpertRequest(model=model, messages=({"role": "user", "content": "2+2?"},), max_tokens=4)


def test_aliases_on_one_endpoint_share_its_concurrency_limit():
    with FaultServer([Fault("slow", delay=0.25)] * 8) as srv:
        spec = {"backend": "openai", "base_url": srv.base_url, "model": "m", "api_key_env": None, "max_retries": 0}
        pool = limited_pool({"models": {"answer-1": {**spec, "max_concurrency": 2}, "answer-2": spec}})
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            out = list(ex.map(pool.complete, [request(f"answer-{1 + i % 2}") for i in range(8)]))
        wall = time.monotonic() - start
    (endpoint,) = pool.endpoints.values()
    assert all(r.error is None and r.text == "the answer" for r in out)
    assert endpoint.stats.max_in_flight == 2 and endpoint.stats.sent == 8
    assert wall >= 4 * 0.25 * 0.9  # 8 requests, 2 at a time
    assert max(r.latency_s for r in out) >= 0.7  # queueing is billed as latency


def test_a_saturated_endpoint_answers_with_an_error_instead_of_hanging():
    with FaultServer([Fault("slow", delay=0.6)] * 2) as srv:
        spec = {"backend": "openai", "base_url": srv.base_url, "model": "m", "api_key_env": None,
                "max_retries": 0, "max_concurrency": 1}
        pool = limited_pool({"models": {"answer-1": spec}}, acquire_timeout_s=0.1)
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            out = list(ex.map(pool.complete, [request("answer-1")] * 2))
    errors = [r.error for r in out if r.error]
    assert len(errors) == 1 and "no free slot" in errors[0]


def test_the_rate_limit_is_shared_across_endpoints():
    with FaultServer() as a, FaultServer() as b:
        models = {f"answer-{i}": {"backend": "openai", "base_url": srv.base_url, "model": "m", "api_key_env": None}
                  for i, srv in ((1, a), (2, b))}
        pool = limited_pool({"models": models, "rate_limit": {"requests_per_s": 20, "burst": 1}})
        start = time.monotonic()
        for i in range(6):
            assert pool.complete(request(f"answer-{1 + i % 2}")).error is None
        wall = time.monotonic() - start
    assert len(pool.endpoints) == 2 and len(a.seen) == len(b.seen) == 3
    assert wall >= 5 / 20 * 0.9  # one bucket for both servers


def test_bad_limit_configs_fail_with_the_fix():
    with pytest.raises(ValueError, match="requests_per_s"):
        limited_pool({"models": {}, "rate_limit": {"rps": 3}})
    with pytest.raises(ValueError, match="max_concurrency"):
        limited_pool({"models": {"a": {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "max_concurrency": 0}}})
    with pytest.raises(ValueError, match="disagree"):
        spec = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1"}
        limited_pool({"models": {"a": {**spec, "max_concurrency": 2}, "b": {**spec, "max_concurrency": 3}}})
