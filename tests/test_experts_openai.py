"""OpenAICompatExpert against a loopback server that injects faults (tests/fault_server.py).

Deadlines are checked by behaviour, not by the wall clock of a loaded CI box: on a
:class:`FakeClock` whose time passes only when the expert sleeps, by attempt counts and the
reason given, and otherwise by bounds an ignored deadline would exceed many times over.
"""
from __future__ import annotations

import socket
import time

import pytest

from fault_server import Fault, FaultServer
from orchestra_env.experts.base import ExpertRequest
from orchestra_env.experts.openai_compat import OpenAICompatExpert

REQUEST = ExpertRequest("gpt-5", ({"role": "user", "content": "What is 2+2?"},), max_tokens=16)
KEY = "sk-secret-test-key-123"


class FakeClock:
    """Time that moves only when the code under test sleeps (requests to the loopback server
    take no time on it), so the deadline arithmetic is checked exactly."""

    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, []  # type: float, list[float]

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def hang_bound(limit_s: float) -> float:
    """A bound on a step's wall time that only an ignored limit (or a hang) exceeds, however
    loaded the machine: five times the configured limit, plus five seconds."""
    return 5 * limit_s + 5.0


def expert(server: FaultServer, **kw) -> OpenAICompatExpert:
    options = dict(api_key=KEY, timeout_s=2.0, max_retries=4, backoff_s=0.02, deadline_s=5.0)
    options.update(kw)
    return OpenAICompatExpert(server.base_url, **options)


def test_success_returns_text_usage_and_sends_the_key():
    with FaultServer([Fault("ok", text="4", prompt_tokens=9, completion_tokens=2)]) as srv:
        r = expert(srv).complete(REQUEST)
    assert (r.text, r.tokens_in, r.tokens_out, r.error) == ("4", 9, 2, None)
    assert srv.seen[0].headers["Authorization"] == f"Bearer {KEY}"
    assert srv.seen[0].body["model"] == "gpt-5" and srv.seen[0].body["max_tokens"] == 16
    assert r.latency_s > 0


def test_success_after_transient_failures():
    script = [Fault("status", 500), Fault("status", 503), Fault("truncated"), Fault("drop"), Fault("ok", text="fine")]
    with FaultServer(script) as srv:
        r = expert(srv).complete(REQUEST)
    assert r.error is None and r.text == "fine"
    assert len(srv.seen) == 5


def test_retry_after_is_honoured():
    with FaultServer([Fault("status", 429, retry_after="0.4"), Fault("ok")]) as srv:
        r = expert(srv, backoff_s=0.01).complete(REQUEST)
    assert r.error is None
    assert srv.gaps()[0] >= 0.4


def test_backoff_grows_exponentially():
    with FaultServer([Fault("status", 503)] * 3 + [Fault("ok")]) as srv:
        r = expert(srv, backoff_s=0.1).complete(REQUEST)
    assert r.error is None
    gaps = srv.gaps()
    # full jitter in [cap/2, cap] with cap = 0.1 * 2**k
    for k, gap in enumerate(gaps):
        assert gap >= 0.1 * 2**k / 2 - 0.01, gaps
    assert gaps[2] > gaps[0]


def test_billed_tokens_of_failed_attempts_are_recorded():
    script = [Fault("no_choices", prompt_tokens=10, completion_tokens=5), Fault("ok", prompt_tokens=7, completion_tokens=3)]
    with FaultServer(script) as srv:
        r = expert(srv).complete(REQUEST)
    assert r.error is None
    assert (r.tokens_in, r.tokens_out) == (17, 8)


def test_final_failure_is_an_error_response_within_the_deadline():
    clock = FakeClock()
    with FaultServer([Fault("status", 503)] * 100) as srv:
        r = expert(srv, max_retries=50, backoff_s=0.1, deadline_s=1.0, clock=clock, sleep=clock.sleep).complete(REQUEST)
    assert r.text == "" and r.error is not None and "503" in r.error
    # one attempt per sleep plus the first; the deadline, not max_retries, stopped them
    assert 2 <= len(srv.seen) == len(clock.sleeps) + 1 < 50
    assert f"gave up after {len(srv.seen)} attempt(s)" in r.error and "would pass the 1.0s deadline" in r.error
    assert sum(clock.sleeps) < 1.0 and r.latency_s == pytest.approx(sum(clock.sleeps))
    # it stopped only when the next (growing) backoff, at least half its cap, would not fit
    next_cap = 0.1 * 2 ** len(clock.sleeps)
    assert sum(clock.sleeps) + next_cap >= 1.0


def test_time_spent_waiting_counts_against_the_deadline():
    """A Retry-After longer than what is left of the deadline is not waited for."""
    clock = FakeClock()
    with FaultServer([Fault("status", 429, retry_after="0.6"), Fault("status", 429, retry_after="0.6"),
                      Fault("ok")]) as srv:
        r = expert(srv, deadline_s=1.0, clock=clock, sleep=clock.sleep).complete(REQUEST)
    assert clock.sleeps == [0.6] and len(srv.seen) == 2
    assert r.error is not None and "would pass the 1.0s deadline" in r.error


def test_retries_are_bounded_by_max_retries():
    with FaultServer([Fault("status", 500)] * 10) as srv:
        r = expert(srv, max_retries=2).complete(REQUEST)
    assert r.error is not None and len(srv.seen) == 3


def test_slow_response_times_out_then_retry_succeeds():
    with FaultServer([Fault("slow", delay=1.5, text="too late"), Fault("ok", text="late but fine")]) as srv:
        r = expert(srv, timeout_s=0.3).complete(REQUEST)
    # the second reply can only be read if the first attempt was abandoned at its timeout
    assert r.text == "late but fine" and r.error is None and len(srv.seen) == 2


def test_timeouts_until_the_deadline_give_an_error():
    with FaultServer([Fault("slow", delay=1.0)] * 10) as srv:
        t0 = time.monotonic()
        r = expert(srv, timeout_s=0.25, max_retries=9, deadline_s=0.8).complete(REQUEST)
        elapsed = time.monotonic() - t0
    assert r.error is not None and "timed out" in r.error and "deadline" in r.error
    # attempts of 0.25 s each fit at most four times in 0.8 s: the deadline stopped them, not max_retries
    assert 1 <= len(srv.seen) <= 4
    assert elapsed < hang_bound(0.8)


def test_dripping_body_cannot_outlive_the_deadline():
    with FaultServer([Fault("drip", delay=0.05)] * 3) as srv:  # a body takes ~10 s to arrive
        t0 = time.monotonic()
        r = expert(srv, timeout_s=5.0, deadline_s=0.6).complete(REQUEST)
        elapsed = time.monotonic() - t0
    # every byte arrives within the 5 s read timeout: only the deadline can have cut the body
    assert r.error is not None and "deadline reached while reading the response" in r.error
    assert elapsed < hang_bound(0.6) < 10.0


def test_client_errors_are_not_retried_and_the_key_never_leaks():
    with FaultServer([Fault("echo_auth")] * 3) as srv:
        e = expert(srv)
        r = e.complete(REQUEST)
    assert len(srv.seen) == 1
    assert r.error is not None and "401" in r.error
    assert KEY in srv.seen[0].headers["Authorization"]  # the server did echo it ...
    assert KEY not in r.error and KEY not in repr(e)  # ... but we never show it


def test_connection_refused_returns_an_error_quickly():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    e = OpenAICompatExpert(f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=2, backoff_s=0.05, deadline_s=2.0)
    r = e.complete(REQUEST)
    assert r.error is not None and r.text == ""
    assert "gave up after 3 attempt(s)" in r.error and "ConnectError" in r.error  # refused, retried, not hung


def test_api_key_is_read_from_the_named_env_var(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MY_TEST_KEY", KEY)
    with FaultServer([Fault("ok")]) as srv:
        e = OpenAICompatExpert(srv.base_url, api_key_env="MY_TEST_KEY")
        e.complete(REQUEST)
    assert srv.seen[0].headers["Authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(e)


# -- the pool routes models to backends ---------------------------------------------------------


def test_pool_routes_configured_models_and_simulates_the_rest(tmp_path):
    from orchestra_env.experts.pool import ExpertPool

    with FaultServer([Fault("ok", text="from the server")]) as srv:
        config = {"models": {"gpt-5": {"backend": "openai", "base_url": srv.base_url, "api_key": KEY}}}
        pool = ExpertPool.from_config(config)
        remote = pool.complete(ExpertRequest("gpt-5", REQUEST.messages))
        local = pool.complete(ExpertRequest("Qwen3-32B", REQUEST.messages))
    assert remote.text == "from the server" and len(srv.seen) == 1
    assert local.text and local.latency_s > 1  # simulated: catalogue-scale latency, no HTTP
    assert KEY not in repr(pool)
    yaml_file = tmp_path / "pool.yaml"
    yaml_file.write_text("default: simulated\nmodels: {}\n")
    local_request = ExpertRequest("Qwen3-32B", REQUEST.messages)
    assert ExpertPool.from_config(yaml_file).complete(local_request) == local
    assert ExpertPool.from_config(None).complete(local_request) == local


def test_pool_rejects_unknown_backends_and_keys():
    from orchestra_env.experts.pool import ExpertPool

    with pytest.raises(ValueError, match="simulated"):
        ExpertPool.from_config({"models": {"gpt-5": {"backend": "vllm"}}})
    with pytest.raises(ValueError, match="base_url"):
        ExpertPool.from_config({"models": {"gpt-5": {"backend": "openai"}}})
    with pytest.raises(ValueError, match="models"):
        ExpertPool.from_config({"model": {}})
