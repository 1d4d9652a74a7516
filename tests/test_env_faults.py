"""Backend faults seen through the env: a step always comes back, in time, and the episode goes on.

Expert faults come from the loopback ``FaultServer`` (tests/fault_server.py) behind the
experts-pool config a user would write; search and sandbox faults are injected at the
``qa`` module's seams (``get_index``, ``make_sandbox``). A limit is checked by what it made
happen (attempt counts, the reason in the error, the billed latency); wall time is only bounded
by :func:`hang_bound`, which an ignored limit or a hang exceeds, and a loaded CI box does not.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import orchestra_env.envs.qa as qa
from fault_server import Fault, FaultServer
from orchestra_env.tools.sandbox import ExecResult
from orchestra_env.tools.search import SearchResult
from orchestra_env.trajectories import RecordTrajectories
from orchestra_env.usage import Usage

KEY = "sk-hardening-test-key-0123456789abcdefXYZ"
ANSWER_MYSELF = {"tool": "answer", "arguments": {"answer": "Paris"}}


def expert_pool(base_url: str, **options: Any) -> dict[str, Any]:
    """gpt-5-mini (reasoner-2, search-2, answer-2) served over HTTP; everything else simulated."""
    spec = {"backend": "openai", "base_url": base_url, "timeout_s": 1.0, "max_retries": 4,
            "backoff_s": 0.02, "deadline_s": 2.0, **options}
    return {"default": "simulated", "models": {"gpt-5-mini": spec}}


def hang_bound(limit_s: float) -> float:
    """Five times the configured limit plus five seconds: only an ignored limit exceeds it."""
    return 5 * limit_s + 5.0


def frames(**kwargs: Any) -> gym.Env:
    env = gym.make("Orchestra/FRAMES-v0", charge_orchestrator=False, max_turns=10, **kwargs)
    env.reset(seed=0)
    return env


def timed_step(env: gym.Env, action: Any) -> tuple[tuple, float]:
    t0 = time.monotonic()
    out = env.step(action)
    return out, time.monotonic() - t0


def assert_error_observation(env: gym.Env, out: tuple, fragment: str) -> None:
    obs, reward, terminated, truncated, info = out
    assert info["error"] and fragment in info["error"], info["error"]
    assert fragment in obs["output"]
    assert env.observation_space.contains(obs)
    assert not (terminated or truncated) and reward == 0.0  # a backend fault is not the policy's


def assert_still_answerable(env: gym.Env) -> None:
    *_, terminated, _, info = env.step(ANSWER_MYSELF)
    assert terminated and info["answer"] == "Paris" and info["correct"] in (True, False)


# ---------------------------------------------------------------------------- experts over HTTP


def test_rate_limited_then_served_step_succeeds_and_bills_the_tokens() -> None:
    script = [Fault("status", 429, retry_after="0.1"), Fault("status", 429),
              Fault("ok", text="It is Paris.", prompt_tokens=123, completion_tokens=45)]
    with FaultServer(script) as srv:
        env = frames(experts=expert_pool(srv.base_url, api_key=KEY))
        obs, _, _, _, info = env.step({"tool": "enhance_reasoning", "arguments": {"model": "reasoner-2"}})
    assert len(srv.seen) == 3 and info["error"] is None
    assert "It is Paris." in obs["output"]
    assert (info["model"], info["tokens_in"], info["tokens_out"]) == ("reasoner-2", 123, 45)
    assert info["cost_usd"] == pytest.approx(env.unwrapped.catalogue.models["gpt-5-mini"].cost(123, 45))
    assert srv.gaps()[0] >= 0.1  # the Retry-After was honoured ...
    assert info["latency_s"] >= 0.1  # ... and the wait is real latency, billed as such


def test_tokens_billed_by_a_failed_attempt_are_charged_on_the_error_step() -> None:
    script = [Fault("no_choices", prompt_tokens=10, completion_tokens=5)] + [Fault("status", 400)]
    with FaultServer(script) as srv:
        env = frames(experts=expert_pool(srv.base_url, api_key=KEY))
        out, _ = timed_step(env, {"tool": "enhance_reasoning", "arguments": {"model": "reasoner-2"}})
    assert_error_observation(env, out, "HTTP 400")
    assert (out[-1]["tokens_in"], out[-1]["tokens_out"]) == (10, 5) and out[-1]["cost_usd"] > 0


@pytest.mark.parametrize("action", [
    {"tool": "enhance_reasoning", "arguments": {"model": "reasoner-2"}},
    {"tool": "search", "arguments": {"model": "search-2"}},
], ids=["enhance_reasoning", "search-by-model"])
def test_expert_down_for_good_gives_an_error_observation_within_the_deadline(action: dict) -> None:
    deadline = 1.0
    with FaultServer([Fault("status", 503)] * 200) as srv:
        env = frames(experts=expert_pool(srv.base_url, api_key=KEY, max_retries=50, backoff_s=0.05,
                                         deadline_s=deadline))
        out, elapsed = timed_step(env, action)
        assert_error_observation(env, out, "503")
        assert 2 <= len(srv.seen) < 50  # it retried, and the deadline (not max_retries) stopped it
        assert "deadline" in out[-1]["error"]
        assert elapsed < hang_bound(deadline)
        assert_still_answerable(env)


def test_hanging_expert_is_cut_at_the_deadline() -> None:
    with FaultServer([Fault("slow", delay=5.0)] * 5) as srv:
        env = frames(experts=expert_pool(srv.base_url, api_key=KEY, timeout_s=0.3, deadline_s=1.0))
        out, elapsed = timed_step(env, {"tool": "enhance_reasoning", "arguments": {"model": "reasoner-2"}})
        assert_error_observation(env, out, "timed out")
        # 0.3 s attempts fit at most four times in the 1 s deadline (max_retries would allow five),
        # and the step came back before the hanging server would have answered even once
        assert 1 <= len(srv.seen) <= 4 and "deadline" in out[-1]["error"]
        assert elapsed < min(5.0, hang_bound(1.0))
        assert_still_answerable(env)


def test_unreachable_expert_fails_fast_and_the_episode_goes_on() -> None:
    with FaultServer() as srv:
        url = srv.base_url  # then nobody listens there any more
    env = frames(experts=expert_pool(url, api_key=KEY, max_retries=2, backoff_s=0.05))
    out = env.step({"tool": "enhance_reasoning", "arguments": {"model": "reasoner-2"}})
    assert_error_observation(env, out, "gave up after 3 attempt(s)")  # refused, retried, then given up
    assert_still_answerable(env)


# ---------------------------------------------------------------------------- search and sandbox


class BrokenIndex:
    """A search backend whose first ``failures`` calls raise, like a remote index that flaps."""

    def __init__(self, failures: int = 10**9) -> None:
        self.failures, self.calls = failures, 0

    def search(self, query: str, k: int = 5) -> SearchResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("index shard unreachable")
        return SearchResult(passages=[], usage=Usage())


def test_search_backend_that_raises_gives_an_error_observation(monkeypatch: pytest.MonkeyPatch) -> None:
    index = BrokenIndex(failures=1)
    monkeypatch.setattr(qa, "get_index", lambda *args, **kwargs: index)
    env = frames()
    out, _ = timed_step(env, {"tool": "search", "arguments": {"query": "capital of France"}})
    assert_error_observation(env, out, "ConnectionError")
    *_, info = env.step({"tool": "search", "arguments": {"query": "capital of France"}})
    assert info["error"] is None and index.calls == 2  # the flap passed; the tool kept no broken state
    assert_still_answerable(env)


def test_search_index_whose_corpus_file_is_missing_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing data file is the user's error (issue 10, point 7): it propagates, not an observation."""
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError("corpus file vanished")

    monkeypatch.setattr(qa, "get_index", missing)
    env = frames()
    with pytest.raises(FileNotFoundError, match="corpus file vanished"):
        env.step({"tool": "search", "arguments": {"query": "x"}})


@pytest.mark.parametrize("limit_s", [1.0])
def test_python_that_never_ends_is_stopped_at_the_sandbox_limit(limit_s: float) -> None:
    env = frames(sandbox_options={"timeout_s": limit_s})
    (obs, reward, terminated, _, info), elapsed = timed_step(
        env, {"tool": "python", "arguments": {"code": "while True:\n    pass"}})
    assert "time limit" in obs["output"] and not terminated and reward == 0.0
    assert elapsed < hang_bound(limit_s)  # the loop never ends: returning at all means it was killed
    assert info["latency_s"] >= limit_s  # billed per started second of wall time
    assert_still_answerable(env)


def test_python_timeout_is_flagged_in_info() -> None:
    env = frames(sandbox_options={"timeout_s": 0.5})
    *_, info = env.step({"tool": "python", "arguments": {"code": "while True:\n    pass"}})
    assert info["error"] and "time limit" in info["error"]


def test_sandbox_backend_that_raises_gives_an_error_observation(monkeypatch: pytest.MonkeyPatch) -> None:
    class DeadSandbox:
        def run(self, code: str, *, timeout_s: float | None = None, stdin: str = "") -> ExecResult:
            raise OSError("bwrap: cannot create namespace")

    monkeypatch.setattr(qa, "make_sandbox", lambda *args, **kwargs: DeadSandbox())
    env = frames()
    out, _ = timed_step(env, {"tool": "python", "arguments": {"code": "print(1)"}})
    assert_error_observation(env, out, "cannot create namespace")
    assert_still_answerable(env)


# ---------------------------------------------------------------------------- secrets


def _all_text(records: list[Any]) -> str:
    return json.dumps(records, default=str, ensure_ascii=False)


def test_api_key_never_reaches_observations_infos_or_logs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the pool reads it from there, as users configure it
    log = tmp_path / "episodes.jsonl"
    with FaultServer([Fault("echo_auth")] * 10) as srv:
        env = RecordTrajectories(frames(experts=expert_pool(srv.base_url)), log)
        seen: list[Any] = [env.reset(seed=0)]
        for action in ({"tool": "enhance_reasoning", "arguments": {"model": "reasoner-2"}},
                       {"tool": "search", "arguments": {"model": "search-2"}},
                       {"tool": "answer", "arguments": {"model": "answer-2"}}):
            out = env.step(action)
            seen.append(out)
            assert "401" in out[-1]["error"]  # the echoing server did answer ...
    assert all(s.headers["Authorization"] == f"Bearer {KEY}" for s in srv.seen)  # ... with our key
    assert out[2], "the failed answer model ends the episode, so the log line was written"
    assert KEY not in _all_text(seen)
    assert KEY not in log.read_text(encoding="utf-8") and log.read_text().count("\n") == 1
    assert KEY not in repr(env.unwrapped.experts)


def test_a_key_the_policy_itself_writes_is_redacted_from_the_log(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    """The log is the last line of defence: what the env shows the policy is not its to redact,
    but nothing key-shaped, or equal to a secret in the environment, is written to disk."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    log = tmp_path / "episodes.jsonl"
    env = RecordTrajectories(frames(), log)
    env.reset(seed=0)
    env.step({"tool": KEY, "arguments": {}})  # echoed back by "Unknown tool ..."
    env.step({"tool": "search", "arguments": {"query": f"why does Bearer {KEY[::-1]} fail"}})
    env.step({"tool": "answer", "arguments": {"answer": KEY}})
    text = log.read_text(encoding="utf-8")
    assert KEY not in text and KEY[::-1] not in text and "[REDACTED]" in text


def test_a_long_api_key_cut_by_the_error_body_limit_does_not_leak_its_head() -> None:
    long_key = "sk-" + "a1B2c3D4" * 30  # 243 characters: JWT-style keys are this long
    with FaultServer([Fault("echo_auth")]) as srv:
        env = frames(experts=expert_pool(srv.base_url, api_key=long_key))
        obs, *_, info = env.step({"tool": "enhance_reasoning", "arguments": {"model": "reasoner-2"}})
    head = long_key[:40]
    assert head not in obs["output"] and head not in info["error"]
