"""A minimal OpenAI-compatible server for a local transformers model (or any Expert).

    python -m orchestra_env.experts.serve --model PATH [--port 0] [--host 127.0.0.1]

Serves ``POST /v1/chat/completions`` (non-streaming, with ``usage`` token counts),
``GET /v1/models`` and ``GET /health``, one thread per connection. It exists for loopback tests
and for users without vLLM/SGLang; it is not a production server (no batching, no streaming).
On start it prints ``serving <name> on http://HOST:PORT/v1`` (the real port when ``--port 0``).

Every request gets a JSON answer, never a dropped connection: a body over ``max_body_bytes``
is refused with 413 before it is read, a missing ``Content-Length`` with 411, a negative or
non-numeric one with 400, malformed JSON, a body that is not an object, messages that are not
role/content objects, or nesting deeper than the parser allows with 400, an expert that
raises with 500. Each socket read times out after ``read_timeout_s``, so a client that sends
half a request (slowloris) holds one thread for that long at most.

Why ``http.server`` and not a server library: the endpoints are three, the server binds
loopback for tests and local models, and the stdlib keeps the package free of a web stack;
the protections above are the few a library would have added, each tested in
``tests/test_serve.py``. Use vLLM or SGLang for anything facing a network.
"""
from __future__ import annotations

import argparse
import json
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Sequence

from orchestra_env.experts.base import Expert, ExpertRequest


MAX_BODY_BYTES = 4 * 1024 * 1024
READ_TIMEOUT_S = 10.0


class BadRequest(ValueError):
    """The client's fault: answered with ``status`` and a JSON error body."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def make_server(
    expert: Expert, model_name: str, host: str = "127.0.0.1", port: int = 0, *,
    max_body_bytes: int = MAX_BODY_BYTES, read_timeout_s: float = READ_TIMEOUT_S,
) -> ThreadingHTTPServer:
    """A threaded HTTP server answering chat completions with ``expert`` (call ``serve_forever``)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = read_timeout_s  # socket timeout for every read: a stalled client is dropped

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._json(200, {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "orchestra-env"}]})
            elif self.path.rstrip("/") == "/health":
                self._json(200, {"status": "ok"})
            else:
                self._json(404, _error(f"no route {self.path}"))

        def do_POST(self) -> None:
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self._json(404, _error(f"no route {self.path}"))
                return
            try:
                request = _to_request(_parse_json(self._read_body()), model_name)
            except BadRequest as exc:
                self._json(exc.status, _error(f"bad request: {exc}"))
                return
            except TimeoutError:
                self.close_connection = True
                return  # the client stopped sending; nobody is left to answer
            try:
                response = expert.complete(request)
            except Exception as exc:  # noqa: BLE001 - the client gets a 500, the server lives on
                self._json(500, _error(f"expert failed: {type(exc).__name__}: {exc}"))
                return
            if response.error:
                self._json(502, _error(response.error))
                return
            self._json(200, _completion(model_name, response.text, response.tokens_in, response.tokens_out))

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self.close_connection = True
                raise BadRequest("chunked bodies are not supported; send Content-Length", 411)
            raw = self.headers.get("Content-Length")
            if raw is None:
                self.close_connection = True
                raise BadRequest("Content-Length is required", 411)
            if not raw.strip().isdigit():
                self.close_connection = True  # the body's end is unknown: the connection is unusable
                raise BadRequest(f"Content-Length must be a non-negative integer, got {raw!r}")
            length = int(raw)
            if length > max_body_bytes:
                self.close_connection = True  # not read: the rest of the stream is discarded with it
                raise BadRequest(f"body of {length} bytes exceeds the limit of {max_body_bytes}", 413)
            body = self.rfile.read(length)
            if len(body) < length:
                self.close_connection = True
                raise BadRequest(f"body ended after {len(body)} of {length} bytes")
            return body

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise BadRequest("JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, invalid UTF-8
        raise BadRequest(f"body is not valid JSON: {exc}") from None


def _to_request(body: Any, model_name: str) -> ExpertRequest:
    if not isinstance(body, dict):
        raise BadRequest(f"body must be a JSON object, got {type(body).__name__}")
    if body.get("stream"):
        raise BadRequest("streaming is not supported by this server")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise BadRequest(f"messages[{i}] must be an object with a string 'role'")
        if not isinstance(message.get("content"), (str, list, type(None))):
            raise BadRequest(f"messages[{i}].content must be a string, a list of parts or null")
    model = body.get("model") or model_name
    if not isinstance(model, str):
        raise BadRequest("'model' must be a string")
    return ExpertRequest(
        model=model,
        messages=tuple(messages),
        max_tokens=_number(body, ("max_tokens", "max_completion_tokens"), int, 256, 1, 1_000_000),
        temperature=_number(body, ("temperature",), float, 0.0, 0.0, 100.0),
        seed=_number(body, ("seed",), int, 0, -(2**63), 2**63 - 1),
    )


def _number(body: dict[str, Any], names: tuple[str, ...], kind: type, default: Any, lo: float, hi: float) -> Any:
    """The first of ``names`` present, as ``kind`` within [lo, hi]; bools and strings refused."""
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadRequest(f"'{name}' must be a number, got {value!r}")
        if not lo <= value <= hi:  # NaN fails this too
            raise BadRequest(f"'{name}' must be within [{lo:g}, {hi:g}], got {value!r}")
        if kind is int and value != int(value):
            raise BadRequest(f"'{name}' must be an integer, got {value!r}")
        return kind(value)
    return default


def _completion(model: str, text: str, tokens_in: int, tokens_out: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out},
    }


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error"}}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="local model folder (transformers format)")
    parser.add_argument("--name", default=None, help="model name served (default: the folder's name)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    args = parser.parse_args(argv)

    from orchestra_env.experts.transformers_local import TransformersExpert

    expert = TransformersExpert(args.model, device=args.device, dtype=args.dtype, max_new_tokens=args.max_new_tokens)
    expert.load()  # fail before announcing the port if the model cannot load
    name = args.name or Path(args.model).name
    server = make_server(expert, name, args.host, args.port)
    host, port = server.server_address[:2]
    print(f"serving {name} on http://{host}:{port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
