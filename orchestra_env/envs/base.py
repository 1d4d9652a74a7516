"""``OrchestraEnv``: one task per episode, one tool call per step, the env keeps the books.

A step, as data::

    action (dict | JSON | <tool_call> text)
      -> actions.parse_action            ToolCall | ParseError
      -> episode.transcript              ToolCallTurn written before dispatch
      -> tool.validate(arguments)        schema check (pydantic)
      -> tool(arguments, episode)        ToolResult(output, usage, model, terminal, answer)
      -> episode.transcript              ToolResultTurn written after (what experts are shown)
      -> accounting                      totals, calls per tool/alias, orchestrator tokens
      -> _evaluate(episode) at the end   verdict -> correct -> reward, features, preference

Subclasses supply the tasks, the tools and the evaluation; they never touch accounting.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from orchestra_env.actions import ParseError, ToolCall, parse_action
from orchestra_env.episode import Episode
from orchestra_env.experts.oracle import bound_task
from orchestra_env.outages import Outages
from orchestra_env.preferences import Preference, sample_preference
from orchestra_env.spaces import UnicodeText, clip_text
from orchestra_env.tasks import Task
from orchestra_env.tools.base import Tool, ToolArgumentError, ToolResult, is_tool_failure
from orchestra_env.transcript import ToolCallTurn, ToolResultTurn
from orchestra_env.usage import Catalogue, Usage, approx_tokens

logger = logging.getLogger(__name__)

MAX_TASK_CHARS = 65_536
MAX_TOOLS_CHARS = 65_536
MAX_OUTPUT_CHARS = 32_768
MAX_ACTION_CHARS = 32_768


class OrchestraEnv(gym.Env[dict, Any]):
    """Base class of every Orchestra environment (see module docstring for one step).

    Arguments shared by all environments:
        max_turns: tool calls before the episode is truncated (ToolOrchestra sweeps 10/20/50/100).
        format_penalty: reward subtracted for each malformed, unknown or badly-argued call.
        preference: a :class:`Preference`, a dict, a preset name ("accuracy", "cost",
            "speed", "balanced") or "random" (sampled per episode, as in ToolOrchestra's data).
        charge_orchestrator: bill the policy's own tokens at the catalogue's orchestrator
            price (Qwen3-8B): its output = the action text, its input = everything it has read.
        catalogue: path, dict or :class:`Catalogue` of prices and aliases.
        outages: provider outages (:class:`~orchestra_env.outages.Outages` or its dict:
            ``{"probability": {"openai": 0.3}, "schedule": {...}, "timeout_s": 30}``); a call
            to a down model fails after the timeout, billed as latency. None: every provider up.
        max_output_chars: tool outputs longer than this are cut (with a marker).
    """

    metadata = {"render_modes": ["ansi", "human"]}

    def __init__(
        self,
        *,
        max_turns: int = 50,
        format_penalty: float = 0.1,
        preference: "Preference | Mapping[str, Any] | str | None" = "accuracy",
        charge_orchestrator: bool = True,
        catalogue: "Catalogue | str | Mapping[str, Any] | None" = None,
        max_output_chars: int = MAX_OUTPUT_CHARS,
        outages: "Outages | Mapping[str, Any] | None" = None,
        render_mode: str | None = None,
    ) -> None:
        if max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.max_turns = int(max_turns)
        self.format_penalty = float(format_penalty)
        self.random_preference = preference == "random"
        self.preference = None if self.random_preference else Preference.from_any(preference)
        self.charge_orchestrator = charge_orchestrator
        self.catalogue = Catalogue.load(catalogue)
        self.outages = Outages.from_any(outages, self.catalogue.models)
        self.max_output_chars = min(int(max_output_chars), MAX_OUTPUT_CHARS)
        self.render_mode = render_mode

        self.observation_space = spaces.Dict(
            {
                "task": UnicodeText(MAX_TASK_CHARS),
                "tools": UnicodeText(MAX_TOOLS_CHARS),
                "preference": UnicodeText(4096),
                "output": UnicodeText(MAX_OUTPUT_CHARS),
                # turns used, dollars spent, seconds spent
                "spent": spaces.Box(
                    np.zeros(3, dtype=np.float32),
                    np.array([self.max_turns, 1e6, 1e9], dtype=np.float32),
                    dtype=np.float32,
                ),
            }
        )
        self.action_space = UnicodeText(MAX_ACTION_CHARS, min_length=1)
        self.episode: Episode | None = None
        self._tools: dict[str, Tool] | None = None
        self._tools_text: str | None = None
        self._episode_texts = ("", "")
        self._last_output = ""

    # ------------------------------------------------------------------ hooks for subclasses
    @property
    def tasks(self) -> Sequence[Task]:
        raise NotImplementedError

    def _make_tools(self) -> dict[str, Tool]:
        raise NotImplementedError

    def _task_text(self, episode: Episode) -> str:
        return episode.task.question

    def _start(self, episode: Episode) -> str:
        """The first observation's ``output`` (e.g. the simulated user's first message)."""
        return ""

    def _evaluate(self, episode: Episode) -> dict[str, Any]:
        """Judge the finished episode: must return at least ``{"correct": bool}``; an optional
        ``"reward"`` replaces the default outcome reward (1.0 if correct else 0.0)."""
        raise NotImplementedError

    def _parse(self, action: Any) -> ToolCall | ParseError:
        """Action -> ToolCall. Conversational domains override it (plain text = a message)."""
        return parse_action(action)

    # ------------------------------------------------------------------ public API
    @property
    def tools(self) -> dict[str, Tool]:
        if self._tools is None:
            self._tools = self._make_tools()
        return self._tools

    @property
    def tool_schemas(self) -> list[dict[str, Any]]:
        """OpenAI function schemas of every tool, for an LLM policy's chat template."""
        return [tool.schema() for tool in self.tools.values()]

    def tools_text(self) -> str:
        """The tool schemas as the policy reads them, one JSON object per line (built once)."""
        if self._tools_text is None:
            import json

            text = "\n".join(json.dumps(s["function"], ensure_ascii=False) for s in self.tool_schemas)
            self._tools_text = clip_text(text, MAX_TOOLS_CHARS)
        return self._tools_text

    def feature_names(self) -> list[str]:
        """Keys of ``info["features"]``: fixed per environment, so vectors line up."""
        names = [f"calls/{name}" for name in self.tools]
        names += [f"calls/{alias}" for alias in self.catalogue.aliases]
        return names + ["correct", "cost_usd", "latency_s"]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        task = self._choose_task(options)
        if "preference" in options:
            preference = Preference.from_any(options["preference"])
        elif self.random_preference:
            names = list(self.tools) + list(self.catalogue.aliases)
            preference = sample_preference(self.np_random, names)
        else:
            assert self.preference is not None
            preference = self.preference
        episode_seed = int(self.np_random.integers(2**62))
        self.episode = Episode(task=task, seed=episode_seed, preference=preference)
        if self.outages is not None:  # its own stream: outages on or off, the episodes draw alike
            self.episode.outages = self.outages.draw(self.episode.rng("outages"))
        output = self._start(self.episode)
        # the task and preference texts are fixed for the episode: render them once
        self._episode_texts = (
            clip_text(self._task_text(self.episode), MAX_TASK_CHARS),
            clip_text(preference.render(), 4096),
        )
        obs = self._observation(output)
        self.episode.context_tokens = approx_tokens(obs["task"] + obs["tools"] + obs["preference"] + output)
        info = {"task_id": task.task_id, "benchmark": task.benchmark, "preference": preference.as_dict()}
        return obs, info

    def step(self, action: Any):
        episode = self.episode
        if episode is None or episode.done:
            raise RuntimeError("step() called before reset() or after the episode ended; call reset() first")
        episode.turn += 1
        call = self._parse(action)
        if isinstance(call, ToolCall):
            episode.transcript.add(ToolCallTurn(call.tool, dict(call.arguments), step=episode.turn))
        with bound_task(episode.task, episode.seed):  # the simulated pool's ground truth, for this dispatch only
            result, penalised = self._dispatch(call, episode)
        tool = call.tool if isinstance(call, ToolCall) and call.tool in self.tools else None

        # accounting: the tool's usage plus the orchestrator's own tokens
        orchestrator = self._bill_orchestrator(episode, action)
        step_usage = result.usage + orchestrator
        episode.totals = episode.totals + step_usage
        if tool is not None:
            episode.calls[tool] += 1
            if result.model:
                episode.calls[result.model] += 1
        output = clip_text(result.output, self.max_output_chars)
        episode.transcript.add(ToolResultTurn(call.tool if isinstance(call, ToolCall) else None, output,
                                              error=result.error, model=result.model, step=episode.turn,
                                              documents=result.documents))
        episode.context_tokens += approx_tokens(output)
        episode.format_errors += int(penalised)

        reward = -self.format_penalty if penalised else 0.0
        terminated = bool(result.terminal)
        truncated = not terminated and episode.turn >= self.max_turns
        if terminated and result.answer is not None:
            episode.answer = result.answer
        info: dict[str, Any] = {
            "task_id": episode.task.task_id,
            "turn": episode.turn,
            "tool": call.tool if isinstance(call, ToolCall) else None,
            "model": result.model,
            "error": result.error,
            "format_error": penalised,
            **step_usage.as_dict(),
            "orchestrator_cost_usd": orchestrator.cost_usd,
            "total_cost_usd": episode.totals.cost_usd,
            "total_latency_s": episode.totals.latency_s,
            "total_tokens_in": episode.totals.tokens_in,
            "total_tokens_out": episode.totals.tokens_out,
        }
        if terminated or truncated:
            with bound_task(episode.task, episode.seed):
                reward += self._finish(episode, info)
        self._last_output = output
        obs = self._observation(output)
        if self.render_mode == "human":
            print(self.render())
        return obs, reward, terminated, truncated, info

    def _bill_orchestrator(self, episode: Episode, action: Any) -> Usage:
        """The policy's own tokens at the orchestrator's price: it wrote the action and
        re-read everything so far (its prompt grows every turn)."""
        if not self.charge_orchestrator:
            return Usage()
        action_text = action if isinstance(action, str) else _action_text(action)
        tokens_out = approx_tokens(action_text)
        usage = self.catalogue.model_usage(self.catalogue.orchestrator, episode.context_tokens, tokens_out, 0.0)
        episode.context_tokens += tokens_out
        return usage

    def _finish(self, episode: Episode, info: dict[str, Any]) -> float:
        """Judge the episode, fill the end-of-episode ``info``; returns the outcome reward."""
        episode.done = True
        verdict = self._evaluate(episode)
        correct = bool(verdict["correct"])
        outcome = float(verdict.get("reward", 1.0 if correct else 0.0))
        info.update(verdict)
        info["correct"] = correct
        info["outcome_reward"] = outcome
        info["answer"] = episode.answer
        info["features"] = self._features(episode, correct)
        info["preference"] = episode.preference.as_dict()
        return outcome

    def render(self) -> str | None:
        if self.render_mode is None or self.episode is None:
            return None
        e = self.episode
        return (
            f"[{e.task.task_id} turn {e.turn}/{self.max_turns} ${e.totals.cost_usd:.4f} "
            f"{e.totals.latency_s:.1f}s]\n{self._last_output}"
        )

    # ------------------------------------------------------------------ internals
    def _choose_task(self, options: Mapping[str, Any]) -> Task:
        tasks = self.tasks
        if not tasks:
            raise RuntimeError(f"{type(self).__name__} has no tasks (check the data path and split)")
        if "task_id" in options:
            for task in tasks:
                if task.task_id == options["task_id"]:
                    return task
            raise KeyError(f"no task with id {options['task_id']!r} in this split ({len(tasks)} tasks)")
        if "task_index" in options:
            return tasks[int(options["task_index"]) % len(tasks)]
        return tasks[int(self.np_random.integers(len(tasks)))]

    def _dispatch(self, call: ToolCall | ParseError, episode: Episode) -> tuple[ToolResult, bool]:
        """Run a parsed call; return the result and whether it earns the format penalty."""
        if isinstance(call, ParseError):
            return ToolResult(output=str(call), error="parse_error: " + call.message), True
        tool = self.tools.get(call.tool)
        if tool is None:
            msg = f"Unknown tool {call.tool!r}. Available tools: {', '.join(self.tools)}."
            return ToolResult(output=msg, error="unknown_tool"), True
        try:
            arguments = tool.validate(call.arguments)
        except ToolArgumentError as exc:
            return ToolResult(output=f"Invalid arguments: {exc}", error=f"bad_arguments: {exc}"), True
        try:
            return tool(arguments, episode), False
        except Exception as exc:
            if not is_tool_failure(exc):  # ImportError, FileNotFoundError, bugs: the user must see them
                raise
            logger.exception("tool %s failed", call.tool)
            msg = f"Tool {call.tool!r} failed: {type(exc).__name__}: {exc}"
            return ToolResult(output=msg, error=f"tool_failure: {type(exc).__name__}: {exc}"), False

    def _observation(self, output: str) -> dict[str, Any]:
        e = self.episode
        assert e is not None
        task_text, preference_text = self._episode_texts
        return {
            "task": task_text,
            "tools": self.tools_text(),
            "preference": preference_text,
            "output": output,
            "spent": np.array([e.turn, e.totals.cost_usd, e.totals.latency_s], dtype=np.float32),
        }

    def _features(self, episode: Episode, correct: bool) -> dict[str, float]:
        features = {name: 0.0 for name in self.feature_names()}
        for name, count in episode.calls.items():
            if f"calls/{name}" in features:  # fixed keys: models outside the catalogue are not features
                features[f"calls/{name}"] = float(count)
        features["correct"] = float(correct)
        features["cost_usd"] = episode.totals.cost_usd
        features["latency_s"] = episode.totals.latency_s
        return features


def _action_text(action: Any) -> str:
    """The action as text, to bill the policy's output tokens. Never raises: a policy may send
    objects json cannot encode, nests deeper than the recursion limit, or ints too long to print."""
    import json

    try:
        return json.dumps(action, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return f"<unprintable {type(action).__name__}>"
