"""A loopback chat-completions server that misbehaves on cue, for testing and timing retry logic.

``FaultServer([Fault("status", 429, retry_after=0.2), Fault("ok")])`` answers the first request
with a 429 and the second with a completion; requests past the script get ``Fault("ok")``. It
binds 127.0.0.1 only, records when each request arrived and its headers, and every fault is
bounded in time so a test can never hang on it. It lives in the benchmarks package because
``benchmarks/fault_timings.py`` times the env against it (an installed benchmark cannot read
``tests/``); the tests import it through ``tests/fault_server.py``.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterable


@dataclass(frozen=True)
class Fault:
    """One scripted reply.

    kind: ``ok`` | ``status`` (HTTP error ``status``, optional ``retry_after``) | ``slow``
    (wait ``delay`` then ok) | ``truncated`` (200 with cut-off JSON) | ``drop`` (close the
    connection without replying) | ``drip`` (200 whose body arrives one byte per ``delay``) |
    ``no_choices`` (200 with usage but no choices: billed, unusable) | ``echo_auth`` (401 whose
    body repeats the Authorization header, as careless servers do).
    """

    kind: str = "ok"
    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    text: str = "the answer"
    prompt_tokens: int = 11
    completion_tokens: int = 7


@dataclass
class Seen:
    """A request as the server saw it."""

    time: float
    headers: dict[str, str]
    body: dict = field(default_factory=dict)


class FaultServer:
    """Context manager: ``with FaultServer(script) as srv: srv.base_url``."""

    def __init__(self, script: Iterable[Fault] = ()):
        self.script = list(script)
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "FaultServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def gaps(self) -> list[float]:
        """Seconds between consecutive requests."""
        times = [s.time for s in self.seen]
        return [b - a for a, b in zip(times, times[1:])]

    def _next(self) -> Fault:
        with self._lock:
            return self.script.pop(0) if self.script else Fault("ok")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.seen.append(Seen(time.monotonic(), dict(self.headers), body))
                _reply(self, server._next())

        return Handler


def completion(fault: Fault) -> bytes:
    return json.dumps(
        {
            "id": "cmpl-test",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": fault.text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": fault.prompt_tokens,
                "completion_tokens": fault.completion_tokens,
                "total_tokens": fault.prompt_tokens + fault.completion_tokens,
            },
        }
    ).encode()


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(body)


def _reply(handler: BaseHTTPRequestHandler, fault: Fault) -> None:
    if fault.kind == "ok":
        _send(handler, 200, completion(fault))
    elif fault.kind == "status":
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        _send(handler, fault.status, b'{"error": {"message": "injected"}}', headers)
    elif fault.kind == "slow":
        time.sleep(fault.delay)
        try:
            _send(handler, 200, completion(fault))
        except OSError:  # the client gave up first
            pass
    elif fault.kind == "truncated":
        _send(handler, 200, completion(fault)[:25])
    elif fault.kind == "no_choices":
        usage = json.loads(completion(fault))["usage"]
        _send(handler, 200, json.dumps({"usage": usage}).encode())
    elif fault.kind == "echo_auth":
        echo = json.dumps({"error": f"bad key: {handler.headers.get('Authorization')}"}).encode()
        _send(handler, 401, echo)
    elif fault.kind == "drop":
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)
    elif fault.kind == "drip":
        body = completion(fault)
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            for i in range(len(body)):
                handler.wfile.write(body[i : i + 1])
                handler.wfile.flush()
                time.sleep(fault.delay)
        except OSError:
            pass
    else:
        raise ValueError(f"unknown fault kind {fault.kind!r}")
