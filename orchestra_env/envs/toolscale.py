"""ToolScale domains as Orchestra environments: generated customer-service tasks over real
databases, served with tools derived from each database's schema."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator, Literal, Mapping, Sequence, overload

from orchestra_env.actions import ParseError, ToolCall
from orchestra_env.domains.conversation import (
    Conversation, ConversationWorld, Dialogue, ExpertsOnDemand, RespondTool, User, communicated, message_or_call,
)
from orchestra_env.domains.toolscale.db import Domain, EpisodeDB, load_domain
from orchestra_env.domains.toolscale.folder import load_domain_folder, read_tasks
from orchestra_env.domains.toolscale.generator import GoldReplayError, TaskGenerator, replay
from orchestra_env.domains.toolscale.tools import derive_tools
from orchestra_env.domains.toolscale.user import ToolScaleScriptedUser, llm_user
from orchestra_env.envs.base import OrchestraEnv
from orchestra_env.episode import Episode
from orchestra_env.experts.base import Expert
from orchestra_env.tasks import Task
from orchestra_env.tools.base import Tool
from orchestra_env.tools.llm_tools import CallExpertTool

RESPOND_DESCRIPTION = ("Send a message to the user and read their reply. Say goodbye when the request is "
                       "done; the user then ends the conversation.")
AGENT_INSTRUCTION = (
    "You are a customer service agent. Help the user according to the policy below. Each "
    "turn, either send the user a message (the `respond` tool, or plain text) or call one "
    "tool; the user sees only your messages. Say goodbye when the request is done.\n"
    "The policy names tools of its own system; here you have the generic tools listed "
    "instead (get_*/find_*/update_*/create_*/delete_*/cancel_*, calculate, call_expert)."
)


@dataclass
class ToolScaleWorld(ConversationWorld):
    """A ToolScale episode's world (``Episode.world``): the dialogue with the simulated user
    and the episode's own copy-on-write database, which the derived tools read and write."""

    db: EpisodeDB


class GeneratedTasks(Sequence[Task]):
    """The first ``size`` tasks of a generator's stream, produced on first access."""

    def __init__(self, stream: "_Stream", size: int) -> None:
        self._stream, self._size = stream, int(size)

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> Task: ...
    @overload
    def __getitem__(self, index: slice) -> list[Task]: ...

    def __getitem__(self, index: int | slice) -> Task | list[Task]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._size))]
        if index < 0:
            index += self._size
        if not 0 <= index < self._size:
            raise IndexError(index)
        return self._stream.get(index)

    def __iter__(self) -> Iterator[Task]:
        return (self[i] for i in range(self._size))


class _Stream:
    """One (domain, seed, split) task stream, shared by every env of the process."""

    def __init__(self, generator: TaskGenerator, split: str) -> None:
        self._iter, self._done = generator.tasks(split), []  # type: list[Task]

    def get(self, index: int) -> Task:
        while len(self._done) <= index:
            self._done.append(next(self._iter))
        return self._done[index]


@lru_cache(maxsize=None)
def _generator(domain: str, seed: int, test_fraction: float) -> TaskGenerator:
    return TaskGenerator(load_domain(domain), seed=seed, test_fraction=test_fraction)


@lru_cache(maxsize=None)
def _stream(domain: str, seed: int, test_fraction: float, split: str) -> _Stream:
    return _Stream(_generator(domain, seed, test_fraction), split)


class ToolScaleEnv(OrchestraEnv):
    """A ToolScale domain (bank, basketball, ecommerce, medicine, movie, railway, restaurant,
    school, travel, weather) as a Gymnasium env.

    ## Description
    The ten ToolScale databases of ToolOrchestra (Apache-2.0) with generated tasks: a
    simulated customer asks for something over real records (change a field of "my savings
    account", cancel a reservation, add a payment method, which show is cheapest ...). The
    policy serves them under the domain's policy with generic typed tools derived from the
    database schema (``get_*``, ``find_*``, ``update_*``, ``create_*``, ``delete_*``,
    ``cancel_*``, ``calculate``), messages to the user (``respond`` or plain text) and
    priced expert advice (``call_expert``). Each episode works on its own copy-on-write copy
    of the database. Tasks are verified by replaying their gold calls (see
    :mod:`orchestra_env.domains.toolscale.generator`). The conversation (user, ``respond``,
    transcript) is the layer shared with tau2: :mod:`orchestra_env.domains.conversation`.

    ## Action Space
    Text (``UnicodeText``): a tool call as JSON ``{"tool": ..., "arguments": {...}}`` or
    ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (dicts accepted). Any other
    text is a message to the user; ``<think>`` blocks are dropped from it.

    ## Observation Space
    ``Dict(task, tools, preference, output, spent)``: ``task`` is the agent instruction and
    the domain policy; ``tools`` the JSON schemas; ``output`` the user's reply or the tool's
    output (JSON); the first ``output`` is the user's request.

    ## Rewards
    Binary, as tau2's DB + COMMUNICATE check: 1.0 when the final database equals the one the
    gold calls produce **and** every required answer was told to the user (``respond``),
    else 0.0; minus ``format_penalty`` per malformed call. ``info["reward_breakdown"]`` has
    ``db`` and ``communicate``; ``info["db_diff"]`` lists differing records.

    ## Starting State
    A task from the split (random, or ``options={"task_index": i}`` / ``{"task_id": ...}``);
    a fresh copy of the database; the user's opening message.

    ## Episode End
    Terminated when the user hangs up (``###STOP###``; the scripted user does when the agent
    says goodbye); truncated after ``max_turns`` calls.

    ## Arguments
    Keyword arguments of `gym.make("Orchestra/ToolScale-<domain>-v0", ...)`.

    | name | type | default | meaning |
    |---|---|---|---|
    | `domain` | str | `"bank"` | one of the ten ToolScale domains (set by the registered id) |
    | `split` | str | `"train"` | "train" or "test": disjoint users and records (see the generator) |
    | `num_tasks` | int | `1000` | size of the split's task list (the generated stream is unbounded) |
    | `seed` | int | `0` | which generated task stream |
    | `test_fraction` | float | `0.2` | share of users and records held out for "test" |
    | `user` | str or Callable[[Task], User] | `"scripted"` | "scripted" (offline), "llm" (the shared `LLMUser`, needs `user_model`) or a function `task -> User` |
    | `user_model` | str or None | `None` | catalogue model of the LLM user |
    | `experts` | dict, Expert or None | `None` | expert-pool config (None: simulated) for `call_expert` and the LLM user |
    | `tasks` | Sequence[Task] or None | `None` | your own task list (e.g. from `toolscale.official.load_official`) |
    | `domain_path` | str or None | `None` | a domain folder (e.g. written by `toolscale.synthesis.synthesize`): its db.json, policy.md, schema.json and, unless `tasks` is given, tasks.json replace `domain` |
    | `max_turns` | int | `50` | tool calls before the episode is truncated (ToolOrchestra sweeps 10/20/50/100) |
    | `format_penalty` | float | `0.1` | subtracted from the reward for each malformed, unknown or badly-argued call |
    | `preference` | Preference, dict or str | `"accuracy"` | a preset ("accuracy", "cost", "speed", "balanced") or "random" (drawn per episode, as in ToolOrchestra's data) |
    | `charge_orchestrator` | bool | `True` | bill the policy's own tokens at the catalogue's orchestrator price |
    | `catalogue` | Catalogue, dict, str or None | `None` | prices and aliases (None: the shipped `data/catalogue.yaml`) |
    | `max_output_chars` | int | `32768` | tool outputs longer than this are cut, with a marker |
    | `outages` | Outages, dict or None | `None` | providers or models down per episode or on a schedule of turns (`orchestra_env.outages`); a call to a down one waits its timeout, billed as latency |
    | `render_mode` | str or None | `None` | "ansi" or "human" (the transcript as text) |

    ## Version History
    * v0: initial version.
    """

    benchmark = "toolscale"

    def __init__(
        self,
        domain: str = "bank",
        *,
        split: str = "train",
        num_tasks: int = 1000,
        seed: int = 0,
        test_fraction: float = 0.2,
        user: "Literal['scripted', 'llm'] | Callable[[Task], User]" = "scripted",
        user_model: str | None = None,
        experts: "Mapping[str, Any] | Expert | None" = None,
        tasks: Sequence[Task] | None = None,
        domain_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', not {split!r}")
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
        if isinstance(user, str) and user not in ("scripted", "llm"):
            raise ValueError(f"user must be 'scripted', 'llm' or a function task -> User, not {user!r}")
        if user == "llm" and not user_model:
            raise ValueError("user='llm' needs user_model=<a model name served by the experts backend>")
        self.domain: Domain = load_domain(domain) if domain_path is None else load_domain_folder(domain_path)
        if domain_path is not None and tasks is None:
            tasks = read_tasks(domain_path)  # a folder's own tasks (synthesized ones carry gold calls)
        self.split, self.seed, self.test_fraction = split, int(seed), float(test_fraction)
        self.user, self.user_model = user, user_model
        self._experts = ExpertsOnDemand(experts)
        self._tasks: Sequence[Task] = (
            list(tasks) if tasks is not None
            else GeneratedTasks(_stream(domain, self.seed, self.test_fraction, split), num_tasks)
        )

    @property
    def tasks(self) -> Sequence[Task]:
        return self._tasks

    @property
    def experts(self) -> Expert:
        """The expert pool (``call_expert``, the LLM user), built on first use."""
        return self._experts.pool

    # ------------------------------------------------------------------ hooks
    def _make_tools(self) -> dict[str, Tool]:
        tools: dict[str, Tool] = dict(derive_tools(self.domain.schema))
        tools["respond"] = RespondTool(RESPOND_DESCRIPTION)
        tools["call_expert"] = CallExpertTool(self._experts, self.catalogue)
        return tools

    def _task_text(self, episode: Episode) -> str:
        return f"{AGENT_INSTRUCTION}\n\n<policy>\n{self.domain.policy}\n</policy>"

    def _start(self, episode: Episode) -> str:
        domain_tools = [name for name in self.tools if name in tools_of(self.domain)]
        dialogue = Dialogue(self._make_user(episode), Conversation(episode.transcript, agent_tools=domain_tools))
        episode.world = ToolScaleWorld(dialogue=dialogue, db=self.domain.new_db())
        return f"User: {dialogue.open().text}"

    def _make_user(self, episode: Episode) -> User:
        if self.user == "scripted":
            return ToolScaleScriptedUser(episode.task)
        if self.user == "llm":
            assert self.user_model is not None
            return llm_user(episode.task, self._experts, self.user_model, seed=episode.call_seed("user"))
        return self.user(episode.task)

    def _parse(self, action: Any) -> ToolCall | ParseError:
        return message_or_call(action)

    def _evaluate(self, episode: Episode) -> dict[str, Any]:
        gold = self.gold_db(episode.task)
        world = episode.world_as(ToolScaleWorld)
        diff = world.db.diff(gold)
        dialogue = world.dialogue
        required = list(episode.task.metadata.get("required", []))
        told = all(communicated(required, dialogue.conversation.agent_messages()))
        correct = not diff and told
        return {
            "correct": correct,
            "reward": 1.0 if correct else 0.0,
            "reward_breakdown": {"db": float(not diff), "communicate": float(told)},
            "db_diff": diff[:20],
            "end_reason": dialogue.end or "max_turns",
            "user_usage": dialogue.usage.as_dict(),
        }

    def gold_db(self, task: Task) -> EpisodeDB:
        """The database after the task's gold calls (replayed on a fresh copy)."""
        db = self.domain.new_db()
        try:
            replay(tools_of(self.domain), db, task.metadata["actions"])
        except GoldReplayError as exc:
            raise RuntimeError(f"task {task.task_id}: its gold calls no longer replay ({exc})") from exc
        return db


@lru_cache(maxsize=None)
def tools_of(domain: Domain) -> dict[str, Any]:
    """The derived tools of a domain (shipped or loaded from a folder), built once."""
    return derive_tools(domain.schema)
