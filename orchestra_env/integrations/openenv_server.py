"""Serve any Orchestra id over OpenEnv's HTTP/WebSocket API (``openenv-core``).

    orchestra serve-env Orchestra/FRAMES-v0 --port 0        # prints the bound port, loopback only
    python -m orchestra_env.integrations.openenv_server Orchestra/Tau2-mock-v0 --max-sessions 32

One server holds many sessions: every WebSocket connection (OpenEnv's ``EnvClient``) gets its own
``gym.make`` copy of the env, so DBs, simulated users and sandboxes are never shared; heavy
read-only resources (search indices) are still shared in process, as ``gym.make`` shares them.
``--max-sessions`` bounds the copies and ``--idle-timeout`` reaps the ones a client forgot.

The action and observation models are generated from the env: the observation from its
``observation_space`` (``UnicodeText`` -> ``str`` with its bound, ``Box`` -> a fixed-length
list), the action from its tool schemas (listed in the action's JSON schema). The action model
accepts *any* payload on purpose: a payload that is not ``{"tool", "arguments"}`` or
``{"text"}`` is handed to the env as JSON text, so the policy gets the env's format-error
observation and its penalty, exactly as in process, instead of an HTTP 422/500 that a trainer
would have to special-case.

OpenEnv's wire format drops ``Observation.metadata``; the step's ``info`` (cost, latency,
tokens, verdict at the end) is therefore both in ``metadata`` (in process) and in the
observation's ``info`` field (on the wire).
"""
from __future__ import annotations

import argparse
import functools
import ipaddress
import json
import re
import socket
import sys
import uuid
from typing import Any, Mapping

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from orchestra_env.integrations.jsonsafe import json_safe
from orchestra_env.spaces import UnicodeText

try:
    import pydantic
    from openenv.core.env_server.interfaces import Environment
    from openenv.core.env_server.types import Action, EnvironmentMetadata, Observation, State
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "The OpenEnv server needs openenv-core: pip install 'orchestra-env[openenv]'"
    ) from exc

ACTION_FIELDS = {"tool", "arguments", "text", "metadata"}


def _model_name(env_id: str, suffix: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", env_id.split("/")[-1]) + suffix


class OrchestraActionBase(Action):
    """One policy turn: a tool call (``tool`` + ``arguments``) or raw text (``text``).

    ``text`` takes what an LLM wrote verbatim (``<tool_call>`` tags, JSON, or, in conversational
    domains, a plain message) and the env parses it; anything else is wrapped as text by
    :meth:`_wrap_malformed`, so it reaches the env's parser and earns its format error.
    """

    tool: str | None = pydantic.Field(default=None, description="Name of the tool to call.")
    arguments: dict[str, Any] | str = pydantic.Field(
        default_factory=dict, description="The tool's arguments (an object, or its JSON text)."
    )
    text: str | None = pydantic.Field(
        default=None, description="Raw policy output, parsed by the env (overrides tool/arguments)."
    )

    @pydantic.model_validator(mode="before")
    @classmethod
    def _wrap_malformed(cls, data: Any) -> Any:
        if _well_formed(data):
            return data
        return {"text": _as_text(data)}

    def to_env_action(self) -> str | dict[str, Any]:
        """What ``OrchestraEnv.step`` receives."""
        if self.text is not None:
            return self.text
        if self.tool is None:
            return ""  # the env answers "the action is empty", with the format penalty
        return {"tool": self.tool, "arguments": self.arguments}


def _well_formed(data: Any) -> bool:
    if not isinstance(data, Mapping) or not set(data) <= ACTION_FIELDS:
        return False
    if data.get("tool") is not None and not isinstance(data["tool"], str):
        return False
    if data.get("text") is not None and not isinstance(data["text"], str):
        return False
    if "arguments" in data and not isinstance(data["arguments"], (Mapping, str)):
        return False
    return isinstance(data.get("metadata", {}), Mapping)


def _as_text(data: Any) -> str:
    if isinstance(data, str):
        return data
    try:
        return json.dumps(data, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return f"<unprintable {type(data).__name__}>"


class OrchestraObservationBase(Observation):
    """Fields shared by every generated observation model (the env's own keys are added)."""

    terminated: bool = pydantic.Field(default=False, description="The task ended (answer, hang-up).")
    truncated: bool = pydantic.Field(default=False, description="The turn budget ran out.")
    info: dict[str, Any] = pydantic.Field(
        default_factory=dict, description="The step's gymnasium info: cost_usd, latency_s, tokens, verdict."
    )


class OrchestraState(State):
    env_id: str = ""
    task_id: str | None = None
    done: bool = False
    total_cost_usd: float = 0.0
    total_latency_s: float = 0.0


def _field_for(space: spaces.Space) -> tuple[Any, Any]:
    """(annotation, FieldInfo) of one observation key, with the space's bounds."""
    if isinstance(space, UnicodeText):
        return str, pydantic.Field(default="", max_length=space.max_length)
    if isinstance(space, spaces.Box):
        n = int(np.prod(space.shape))
        return list[float], pydantic.Field(default_factory=lambda: [0.0] * n, min_length=n, max_length=n)
    if isinstance(space, spaces.Discrete):
        return int, pydantic.Field(default=int(space.start))
    return Any, pydantic.Field(default=None)


def make_models(env_id: str, env: gym.Env) -> tuple[type[OrchestraActionBase], type[OrchestraObservationBase]]:
    """The typed action and observation models of one env (see module docstring)."""
    base = env.unwrapped
    schemas = [s["function"] for s in base.tool_schemas]
    action_cls = pydantic.create_model(
        _model_name(env_id, "Action"),
        __base__=OrchestraActionBase,
        __doc__=f"An action of {env_id}: call one of {', '.join(s['name'] for s in schemas)}.",
    )
    action_cls.model_config["json_schema_extra"] = {"x-orchestra-tools": schemas}
    action_cls.model_rebuild(force=True)
    fields = {key: _field_for(sub) for key, sub in env.observation_space.spaces.items()}
    obs_cls = pydantic.create_model(
        _model_name(env_id, "Observation"),
        __base__=OrchestraObservationBase,
        __doc__=f"An observation of {env_id} (keys of its gymnasium observation_space).",
        **fields,
    )
    return action_cls, obs_cls


class OrchestraOpenEnv(Environment):
    """One session: an isolated ``gym.make(env_id)`` behind OpenEnv's ``Environment`` API."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self, env_id: str, make_kwargs: Mapping[str, Any] | None = None,
                 models: tuple[type[OrchestraActionBase], type[OrchestraObservationBase]] | None = None) -> None:
        super().__init__()
        self.env_id = env_id
        self.env = gym.make(env_id, **dict(make_kwargs or {}))
        self.action_cls, self.observation_cls = models or make_models(env_id, self.env)
        self._state = OrchestraState(env_id=env_id)
        self._last: dict[str, Any] | None = None

    def reset(self, seed: int | None = None, episode_id: str | None = None,
              options: Mapping[str, Any] | None = None, **kwargs: Any) -> OrchestraObservationBase:
        """``options`` (or the keyword arguments ``task_id``, ``task_index``, ``preference``)
        go to the gymnasium ``reset(options=...)``."""
        merged = {**dict(options or {}), **{k: v for k, v in kwargs.items() if k in ("task_id", "task_index", "preference")}}
        obs, info = self.env.reset(seed=seed, options=merged or None)
        self._state = OrchestraState(
            episode_id=episode_id or str(uuid.uuid4()), step_count=0, env_id=self.env_id, task_id=info.get("task_id")
        )
        self._last = obs
        return self._observation(obs, None, False, False, info)

    def step(self, action: Any, timeout_s: float | None = None, **kwargs: Any) -> OrchestraObservationBase:
        """``timeout_s`` is not enforced here: the env's own tool timeouts bound a step."""
        if not isinstance(action, OrchestraActionBase):
            action = self.action_cls.model_validate(action)
        if self._last is None or self._state.done:
            return self._refusal()
        obs, reward, terminated, truncated, info = self.env.step(action.to_env_action())
        self._last = obs
        self._state.step_count += 1
        self._state.done = bool(terminated or truncated)
        self._state.total_cost_usd = float(info.get("total_cost_usd", 0.0))
        self._state.total_latency_s = float(info.get("total_latency_s", 0.0))
        return self._observation(obs, float(reward), terminated, truncated, info)

    @property
    def state(self) -> OrchestraState:
        return self._state

    def get_metadata(self) -> EnvironmentMetadata:
        doc = (type(self.env.unwrapped).__doc__ or "").strip().splitlines()
        return EnvironmentMetadata(name=self.env_id, description=doc[0] if doc else self.env_id, version="0")

    def close(self) -> None:
        self.env.close()

    def _observation(self, obs: Mapping[str, Any], reward: float | None, terminated: bool, truncated: bool,
                     info: Mapping[str, Any]) -> OrchestraObservationBase:
        info = json_safe(info)
        return self.observation_cls(
            **json_safe(obs), reward=reward, done=bool(terminated or truncated),
            terminated=bool(terminated), truncated=bool(truncated), info=info, metadata=info,
        )

    def _refusal(self) -> OrchestraObservationBase:
        """Stepping with no live episode (never reset, or over): say so, as an observation."""
        why = "the episode is over" if self._state.done else "no episode was started"
        info = {"error": "no_episode", "format_error": True}
        obs = {**json_safe(self._last or {}), "output": f"Invalid action: {why}; call reset() first."}
        return self.observation_cls(**obs, reward=0.0, done=True, terminated=self._state.done,
                                    info=info, metadata=info)


def create_orchestra_app(env_id: str, *, max_sessions: int = 16, idle_timeout_s: float | None = 600.0,
                         make_kwargs: Mapping[str, Any] | None = None):
    """A FastAPI app serving ``env_id`` with OpenEnv's routes (``/ws``, ``/reset``, ``/step``,
    ``/state``, ``/schema``, ``/health``); raises at once if ``env_id`` or ``make_kwargs`` are bad."""
    from openenv.core.env_server.http_server import create_fastapi_app
    from openenv.core.env_server.types import ConcurrencyConfig

    if max_sessions < 1:
        raise ValueError(f"max_sessions must be >= 1, got {max_sessions}")
    probe = gym.make(env_id, **dict(make_kwargs or {}))  # fails here, not in the first session
    models = make_models(env_id, probe)
    probe.close()
    factory = functools.partial(OrchestraOpenEnv, env_id, dict(make_kwargs or {}), models)
    config = ConcurrencyConfig(max_concurrent_envs=max_sessions, session_timeout=idle_timeout_s)
    return create_fastapi_app(factory, models[0], models[1], concurrency_config=config)


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on (host, port); port 0 picks a free one."""
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def main(argv: list[str] | None = None) -> int:
    """``orchestra serve-env ENV_ID``: serve one env id over OpenEnv until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="orchestra serve-env", description=main.__doc__)
    parser.add_argument("env_id", help="an Orchestra id, e.g. Orchestra/FRAMES-v0")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--max-sessions", type=int, default=16, help="concurrent sessions (env copies)")
    parser.add_argument("--idle-timeout", type=float, default=600.0, help="seconds before an idle session is reaped")
    parser.add_argument("--make-kwargs", default="{}", help='JSON kwargs for gym.make, e.g. \'{"max_turns": 10}\'')
    args = parser.parse_args(argv)
    try:
        make_kwargs = json.loads(args.make_kwargs)
    except ValueError as exc:
        parser.error(f"--make-kwargs is not JSON: {exc}")
    if not ipaddress.ip_address(args.host).is_loopback:
        print(f"warning: serving on {args.host}, reachable from other machines", file=sys.stderr)
    app = create_orchestra_app(args.env_id, max_sessions=args.max_sessions,
                               idle_timeout_s=args.idle_timeout or None, make_kwargs=make_kwargs)
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    print(f"serving {args.env_id} on http://{host}:{port}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
