"""The OpenAI-compatible server answers every hostile request with JSON, never hangs or dies."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from orchestra_env.experts.base import ExpertRequest, ExpertResponse
from orchestra_env.experts.serve import make_server


class EchoExpert:
    def __init__(self) -> None:
        self.requests: list[ExpertRequest] = []

    def complete(self, request: ExpertRequest) -> ExpertResponse:
        self.requests.append(request)
        if request.messages[-1].get("content") == "explode":
            raise RuntimeError("model crashed")
        return ExpertResponse(text=f"echo {request.messages[-1].get('content')}", tokens_in=3, tokens_out=2, latency_s=0.0)


@pytest.fixture
def server():
    expert = EchoExpert()
    srv = make_server(expert, "echo", max_body_bytes=64 * 1024, read_timeout_s=0.5)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv.server_address[:2], expert
    srv.shutdown()
    srv.server_close()


def raw(address, data: bytes, timeout: float = 5.0) -> tuple[int, dict | None, float]:
    """Send raw bytes, return (status, JSON body, seconds until the server answered or closed)."""
    start = time.monotonic()
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            chunks.append(chunk)
            head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
            length = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
            if length and len(body) >= length[0]:
                break
    elapsed = time.monotonic() - start
    reply = b"".join(chunks)
    if not reply:
        return 0, None, elapsed
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body else None, elapsed


def post(address, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict | None, float]:
    lines = ["POST /v1/chat/completions HTTP/1.1", "Host: x", "Content-Type: application/json"]
    hdrs = {"Content-Length": str(len(body)), **(headers or {})}
    lines += [f"{k}: {v}" for k, v in hdrs.items() if v is not None]
    return raw(address, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)


GOOD = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()

BAD_BODIES = {
    "malformed JSON": b'{"messages": [',
    "invalid UTF-8": b'{"messages": "\xff"}',
    "a list": b"[1, 2, 3]",
    "a string": b'"hello"',
    "null": b"null",
    "messages not a list": b'{"messages": "hi"}',
    "empty messages": b'{"messages": []}',
    "message not an object": b'{"messages": ["hi"]}',
    "message without role": b'{"messages": [{"content": "hi"}]}',
    "content a number": b'{"messages": [{"role": "user", "content": 5}]}',
    "max_tokens a string": b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"}',
    "max_tokens infinite": b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e999}',
    "temperature NaN": b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}',
    "seed a float": b'{"messages": [{"role": "user", "content": "hi"}], "seed": 1.5}',
    "model a dict": b'{"messages": [{"role": "user", "content": "hi"}], "model": {"a": 1}}',
    "very deep nesting": b'{"messages": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_malformed_or_wrongly_shaped_bodies_get_a_json_400(server, case):
    address, expert = server
    status, body, _ = post(address, BAD_BODIES[case])
    assert status == 400, (case, body)
    assert body["error"]["message"].startswith("bad request")
    assert post(address, GOOD)[0] == 200 and not any(r.messages[-1].get("content") != "hi" for r in expert.requests)


def test_a_body_over_the_cap_is_refused_with_413_before_it_is_read(server):
    address, _ = server
    status, body, elapsed = post(address, b"", headers={"Content-Length": str(10**9)})  # sends nothing of it
    assert status == 413 and "exceeds the limit" in body["error"]["message"]
    assert elapsed < 0.4  # answered at once, not after waiting for a gigabyte


@pytest.mark.parametrize(("value", "status"), [("-5", 400), ("abc", 400), ("1e3", 400), (None, 411)])
def test_content_length_is_validated(server, value, status):
    address, _ = server
    code, body, elapsed = post(address, GOOD, headers={"Content-Length": value})
    assert code == status and "Content-Length" in body["error"]["message"]
    assert elapsed < 0.4  # a missing body never blocks a handler


def test_a_client_that_stops_sending_is_dropped_after_the_read_timeout(server):
    address, _ = server
    start = time.monotonic()
    # promises 1000 bytes, sends 10, then waits: the server must not wait forever
    status, _, _ = post(address, b'{"messages', headers={"Content-Length": "1000"})
    assert time.monotonic() - start < 3.0 and status in (0, 400)
    half_headers = raw(address, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    assert half_headers[0] in (0, 408) and half_headers[2] < 3.0
    assert post(address, GOOD)[0] == 200


def test_an_expert_that_raises_gives_a_json_500_and_the_server_lives(server):
    address, _ = server
    status, body, _ = post(address, json.dumps({"messages": [{"role": "user", "content": "explode"}]}).encode())
    assert status == 500 and "model crashed" in body["error"]["message"]
    status, body, _ = post(address, GOOD)
    assert status == 200 and body["choices"][0]["message"]["content"] == "echo hi"
