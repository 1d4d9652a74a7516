"""Play one Orchestra episode through OpenEnv: start `serve-env`, connect OpenEnv's client.

    python examples/openenv_client.py                      # starts a server for Orchestra/Tau2-mock-v0
    python examples/openenv_client.py --url http://127.0.0.1:8000   # or use a running one
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time

import httpx
from openenv.core.generic_client import GenericEnvClient


def start_server(env_id: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "orchestra_env.integrations.openenv_server", env_id, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = re.search(r"(http://\S+)", proc.stdout.readline()).group(1)
    for _ in range(100):  # up to ~20 s for uvicorn to accept
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    return proc, url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-id", default="Orchestra/Tau2-mock-v0")
    parser.add_argument("--url", help="a running serve-env server (default: start one)")
    args = parser.parse_args(argv)
    proc, url = (None, args.url) if args.url else start_server(args.env_id)
    try:
        tools = [t["name"] for t in httpx.get(url + "/schema").json()["action"]["x-orchestra-tools"]]
        print("tools:", ", ".join(tools))
        with GenericEnvClient(base_url=url).sync() as env:
            result = env.reset(seed=0)
            print("task:", result.observation["task"][:120].replace("\n", " "), "...")
            for action in ({"tool": "get_users", "arguments": {}},
                           {"text": "<tool_call>{\"name\": \"create_task\", \"arguments\": "
                                    "{\"user_id\": \"user_1\", \"title\": \"demo\"}}</tool_call>"},
                           {"tool": "no_such_tool"}):
                result = env.step(action)
                info = result.observation["info"]
                print(f"{json.dumps(action)[:60]:62s} -> reward {result.reward:+.2f}  "
                      f"${info['cost_usd']:.5f}  {result.observation['output'][:60]!r}")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
