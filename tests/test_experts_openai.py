"""OpenAICompatExpert against a loopback server that injects faults (tests/fault_server.py)."""
from __future__ import annotations

import socket
import time

import pytest

from fault_server import Fault, FaultServer
from orchestra_env.experts.base import ExpertRequest
from orchestra_env.experts.openai_compat import OpenAICompatExpert

REQUEST = ExpertRequest("gpt-5", ({"role": "user", "content": "What is 2+2?"},), max_tokens=16)
KEY = "sk-secret-test-key-123"


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
    with FaultServer([Fault("status", 503)] * 100) as srv:
        t0 = time.monotonic()
        r = expert(srv, max_retries=50, backoff_s=0.1, deadline_s=1.0).complete(REQUEST)
        elapsed = time.monotonic() - t0
    assert r.text == "" and r.error is not None and "503" in r.error
    assert elapsed < 1.3
    assert 2 <= len(srv.seen) < 50


def test_retries_are_bounded_by_max_retries():
    with FaultServer([Fault("status", 500)] * 10) as srv:
        r = expert(srv, max_retries=2).complete(REQUEST)
    assert r.error is not None and len(srv.seen) == 3


def test_slow_response_times_out_then_retry_succeeds():
    with FaultServer([Fault("slow", delay=1.5), Fault("ok", text="late but fine")]) as srv:
        t0 = time.monotonic()
        r = expert(srv, timeout_s=0.3).complete(REQUEST)
        elapsed = time.monotonic() - t0
    assert r.text == "late but fine"
    assert elapsed < 1.2


def test_timeouts_until_the_deadline_give_an_error():
    with FaultServer([Fault("slow", delay=1.0)] * 10) as srv:
        t0 = time.monotonic()
        r = expert(srv, timeout_s=0.25, deadline_s=0.8).complete(REQUEST)
        elapsed = time.monotonic() - t0
    assert r.error is not None and "timed out" in r.error
    assert elapsed < 1.1


def test_dripping_body_cannot_outlive_the_deadline():
    with FaultServer([Fault("drip", delay=0.05)] * 3) as srv:  # a body takes ~10 s to arrive
        t0 = time.monotonic()
        r = expert(srv, timeout_s=5.0, deadline_s=0.6).complete(REQUEST)
        elapsed = time.monotonic() - t0
    assert r.error is not None
    assert elapsed < 1.0


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
    t0 = time.monotonic()
    r = e.complete(REQUEST)
    assert r.error is not None and r.text == ""
    assert time.monotonic() - t0 < 2.0


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
