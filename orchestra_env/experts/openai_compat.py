"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, SGLang, our own ``serve.py``) as an Expert.

Transport problems never raise: after retries with exponential backoff and jitter (429, 5xx,
timeouts, dropped connections, unreadable JSON), the expert returns
``ExpertResponse(text="", error=...)`` with the tokens of attempts the server did bill. A total
``deadline_s`` bounds the whole call, backoff sleeps included, so an RL rollout never hangs.
The API key is sent as a bearer header and never appears in ``repr``, errors or logs.
"""
from __future__ import annotations

import email.utils
import json
import os
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

from orchestra_env.experts.base import ExpertRequest, ExpertResponse

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass
class _Attempt:
    """What one HTTP attempt produced."""

    text: str | None = None  # set on success
    tokens_in: int = 0
    tokens_out: int = 0
    error: str | None = None
    retryable: bool = True
    retry_after: float | None = None


class OpenAICompatExpert:
    """Chat completions over HTTP with retries inside a deadline.

    Args:
        base_url: server root including ``/v1`` (``http://127.0.0.1:8000/v1``).
        model: model name sent in the request body; ``None`` sends ``request.model``.
        api_key: the key itself, or ``None`` to read ``api_key_env`` (no key: no header).
        api_key_env: name of the environment variable holding the key.
        timeout_s: limit of one attempt (connect + response).
        max_retries: retries after the first attempt.
        backoff_s: first backoff; doubles each retry, full jitter in [backoff/2, backoff].
        max_backoff_s: cap of one backoff sleep (a server's Retry-After may ask for more).
        deadline_s: limit of the whole call, sleeps included.
        clock, sleep: the time source the deadline is measured on and the backoff sleep
            (``time.monotonic``/``time.sleep``); tests inject a fake pair to check the
            deadline logic without depending on how fast a loaded machine runs.
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        deadline_s: float = 300.0,
        extra_body: dict[str, Any] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        import httpx  # lazy: only users of real endpoints pay for it

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.deadline_s = deadline_s
        self.extra_body = dict(extra_body or {})
        self.__key = api_key if api_key is not None else (os.environ.get(api_key_env) if api_key_env else None)
        headers = {"Authorization": f"Bearer {self.__key}"} if self.__key else {}
        self._client = httpx.Client(headers=headers)
        self._rng = random.Random()
        self._clock, self._sleep = clock, sleep

    def __repr__(self) -> str:
        key = "set" if self.__key else "none"
        return f"OpenAICompatExpert(base_url={self.base_url!r}, model={self.model!r}, api_key={key})"

    def close(self) -> None:
        self._client.close()

    # -- the call -----------------------------------------------------------------------------

    def complete(self, request: ExpertRequest) -> ExpertResponse:
        start = self._clock()
        deadline = start + self.deadline_s
        body = self._body(request)
        tokens_in = tokens_out = 0
        errors: list[str] = []
        attempts = 0
        for attempt in range(self.max_retries + 1):
            remaining = deadline - self._clock()
            if remaining <= 0:
                errors.append("deadline reached")
                break
            result = self._attempt(body, min(self.timeout_s, remaining), deadline)
            attempts += 1
            tokens_in += result.tokens_in
            tokens_out += result.tokens_out
            if result.text is not None:
                return ExpertResponse(result.text, tokens_in, tokens_out, self._clock() - start)
            errors.append(result.error or "unknown error")
            if not result.retryable or attempt == self.max_retries:
                break
            wait = self._backoff(attempt, result.retry_after)
            if self._clock() + wait >= deadline:
                errors.append(f"next retry (in {wait:.2f}s) would pass the {self.deadline_s}s deadline")
                break
            self._sleep(wait)
        message = f"{self.base_url}: gave up after {attempts} attempt(s): " + "; ".join(errors)
        return ExpertResponse("", tokens_in, tokens_out, self._clock() - start, error=self._redact(message))

    def _body(self, request: ExpertRequest) -> dict[str, Any]:
        return {
            "model": self.model or request.model,
            "messages": [dict(m) for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
            **self.extra_body,
        }

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(0.0, retry_after)
        cap = min(self.max_backoff_s, self.backoff_s * 2**attempt)
        return self._rng.uniform(cap / 2, cap)

    def _attempt(self, body: dict[str, Any], timeout: float, deadline: float) -> _Attempt:
        """One POST; the body is streamed so a slow-dripping server cannot outlive the deadline."""
        import httpx

        try:
            with self._client.stream(
                "POST", f"{self.base_url}/chat/completions", json=body, timeout=httpx.Timeout(timeout)
            ) as response:
                chunks = []
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    if self._clock() > deadline:
                        return _Attempt(error="deadline reached while reading the response")
                raw = b"".join(chunks)
                status = response.status_code
                retry_after = _parse_retry_after(response.headers.get("retry-after"))
        except httpx.TimeoutException:
            return _Attempt(error=f"timed out after {timeout:.2f}s")
        except httpx.HTTPError as exc:  # connection refused/reset, protocol errors
            return _Attempt(error=f"{type(exc).__name__}: {exc}")
        if status != 200:
            return _Attempt(
                # redact the whole body before cutting it: a key cut in half would not match
                error=f"HTTP {status}: {self._redact(raw.decode('utf-8', 'replace'))[:200]}",
                retryable=status in RETRY_STATUS,
                retry_after=retry_after,
            )
        return _parse_completion(raw)

    def _redact(self, text: str) -> str:
        return text.replace(self.__key, "***") if self.__key else text


def _parse_completion(raw: bytes) -> _Attempt:
    """Text and usage of a 200 response; usage is counted even when the choices are unusable."""
    try:
        data = json.loads(raw)
    except ValueError:
        return _Attempt(error=f"invalid JSON in a 200 response ({len(raw)} bytes)")
    usage = (data.get("usage") or {}) if isinstance(data, dict) else {}
    billed = _Attempt(tokens_in=int(usage.get("prompt_tokens", 0)), tokens_out=int(usage.get("completion_tokens", 0)))
    try:
        content = data["choices"][0]["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        billed.error = "200 response without choices[0].message"
        return billed
    billed.text = content or ""
    return billed


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
