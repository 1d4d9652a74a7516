"""tau2-bench domains as Orchestra environments: serve a simulated customer under a policy."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, Sequence

from orchestra_env.actions import ParseError, ToolCall, parse_action
from orchestra_env.domains.conversation import (
    STOP, Conversation, ConversationWorld, Dialogue, ExpertsOnDemand, RespondTool, User, message_or_call,
)
from orchestra_env.domains.tau2.domain import Tau2Domain, get_domain
from orchestra_env.domains.tau2.environment import Tau2Environment, resolved_fields, tool_summary
from orchestra_env.domains.tau2.evaluation import NLAssertionJudge, RewardInfo, evaluate
from orchestra_env.domains.tau2.tasks import Tau2Task, load_tasks, render_solution
from orchestra_env.domains.tau2.user import Tau2ScriptedUser, ask_user_to, llm_user
from orchestra_env.envs.base import OrchestraEnv
from orchestra_env.episode import Episode
from orchestra_env.experts.base import Expert
from orchestra_env.tasks import Task
from orchestra_env.tools.base import SchemaTool, Tool, ToolResult
from orchestra_env.tools.llm_tools import CallExpertTool

TRANSFER_TOOL = "transfer_to_human_agents"
SOLO_TEXT = "<solo text>"  # exact solo mode: plain text, which ends tau2's solo run (AGENT_ERROR)
AGENT_INSTRUCTION = (
    "You are a customer service agent. Help the user according to the policy below. Each "
    "turn, either send the user a message (the `respond` tool, or plain text) or call one "
    "tool; the user sees only your messages. Follow the policy strictly."
)
SOLO_INSTRUCTION = (
    "You are a customer service agent working on a ticket, with no user to talk to: only "
    "make tool calls. Follow the policy below strictly. Call `done` when the ticket is solved."
)


@dataclass
class Tau2World(ConversationWorld):
    """A tau2 episode's world (``Episode.world``): the task, its own copy of tau2's
    environment (databases and toolkits) and the dialogue with the simulated user, whose
    conversation (a view of the episode's transcript) the evaluator scores."""

    task: Tau2Task
    environment: Tau2Environment


class DomainTool(SchemaTool):
    """A domain tool offered to the policy: schema from the method's signature, run in the
    episode's own world. ``transfer_to_human_agents`` ends the episode, as tau2's user does
    (solo and ``exact``: it does not, tau2's solo agent stops only on ``done``)."""

    def __init__(self, name: str, method: Callable[..., Any], exact: bool = False, solo: bool = False) -> None:
        super().__init__(name, tool_summary(method), resolved_fields(method))
        self.exact, self.solo = exact, solo

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        if not self.exact:  # exact: tau2 checks nothing before the tool runs
            super().validate(arguments)  # schema check only; the world coerces the raw arguments
        return dict(arguments)

    def __call__(self, arguments: Mapping[str, Any], episode: Episode) -> ToolResult:
        world = episode.world_as(Tau2World)
        output, failed = world.environment.call(self.name, arguments)
        if self.name == TRANSFER_TOOL and not failed and not (self.solo and self.exact):
            world.dialogue.end = "transfer"
            return ToolResult(output, terminal=True)
        return ToolResult(output, error=output if failed else None)


class DoneTool(SchemaTool):
    """Solo mode: the agent says the ticket is solved (tau2's ``done``)."""

    def __init__(self) -> None:
        super().__init__("done", "Call this function when you are done with the task.", {})

    def __call__(self, arguments: Mapping[str, Any], episode: Episode) -> ToolResult:
        episode.world_as(Tau2World).dialogue.end = "agent_stop"
        return ToolResult(STOP, terminal=True)


class Tau2Env(OrchestraEnv):
    """A tau2-bench customer-service domain (airline, retail, telecom, mock) as a Gymnasium env.

    ## Description
    Each episode is one tau2-bench task (Barres et al. 2025, MIT). A simulated customer opens
    the conversation; the policy serves them under the domain's policy by calling the domain's
    tools (same names, arguments, outputs, errors and database writes as tau2), messaging the
    user (``respond`` or plain text), asking a priced expert model for advice
    (``call_expert``, ToolOrchestra's replacement for a human transfer) or transferring to a
    human (``transfer_to_human_agents``, which ends the episode). Every episode works on its
    own copy-on-write copy of the database. The conversation (user, ``respond``, transcript)
    is the layer shared with ToolScale: :mod:`orchestra_env.domains.conversation`.

    ## Action Space
    Text (``UnicodeText``): a tool call as JSON ``{"tool": ..., "arguments": {...}}`` or
    ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (dicts accepted). Any other
    text is a message to the user (not in solo mode); ``<think>`` blocks are dropped from it.

    ## Observation Space
    ``Dict(task, tools, preference, output, spent)``: ``task`` is the agent instruction and
    the domain policy (solo: the solo policy and the ticket); ``output`` is the user's reply or
    the tool's output (tau2's JSON); the first ``output`` is the user's opening message
    (after any prior conversation the task starts from).

    ## Rewards
    tau2's reward at the end: the product of the components in the task's ``reward_basis``
    (DB match after replaying the gold actions, env assertions, gold actions called,
    required information communicated, NL assertions by an LLM judge when ``judge_model``
    is set, else reported as not evaluated). ``info["reward_breakdown"]`` and
    ``info["reward_info"]`` say why. Truncated episodes score 0, as in tau2.
    ``format_penalty`` is subtracted per malformed call.

    ## Starting State
    A task from ``split`` drawn by the seeded RNG (or ``options={"task_id": ...}``); the
    task's initial state (data updates, initialisation actions, prior messages) is applied.

    ## Episode End
    Terminated when the user stops (``###STOP###``), on a transfer to a human (not in solo
    mode with ``tau2_exact``), or (solo) when ``done`` is called or, with ``tau2_exact``, on a
    text message (scored 0, tau2's ``AGENT_ERROR``); truncated after ``max_turns``.

    ## Arguments
    Keyword arguments of `gym.make("Orchestra/Tau2-<domain>-v0", ...)`.

    | name | type | default | meaning |
    |---|---|---|---|
    | `domain` | str | `"airline"` | "airline", "retail", "telecom" or "mock" (set by the registered id) |
    | `split` | str | `"all"` | "all" or a split of tau2's `split_tasks.json` ("train", "test", "base"; telecom also "small", "full") |
    | `user` | str | `"scripted"` | "scripted" (offline rules) or "llm" (needs `user_model` served by a real backend in `experts`) |
    | `user_model` | str or None | `None` | catalogue model of the LLM user |
    | `user_max_turns` | int | `10` | the scripted user's patience (turns without progress) |
    | `solo` | bool | `False` | the agent gets the ticket and no user (domains with a solo policy: mock, telecom) |
    | `experts` | dict, Expert or None | `None` | expert-pool config (None: simulated) for `call_expert` and the LLM user |
    | `judge_model` | str or None | `None` | model for the NL assertions (None: reported as not evaluated) |
    | `tasks` | Sequence[Tau2Task] or None | `None` | your own tasks instead of the domain's |
    | `tau2_exact` | bool | `True` | tool calls run as tau2-bench runs them (raw arguments, tau2's error texts, numbers as passed, solo ends only on `done` or text); False: arguments validated and coerced first (docs/tau2.md) |
    | `max_turns` | int | `50` | tool calls before the episode is truncated (ToolOrchestra sweeps 10/20/50/100) |
    | `format_penalty` | float | `0.1` | subtracted from the reward for each malformed, unknown or badly-argued call (with `tau2_exact`: only for an unparseable action) |
    | `preference` | Preference, dict or str | `"accuracy"` | a preset ("accuracy", "cost", "speed", "balanced") or "random" (drawn per episode, as in ToolOrchestra's data) |
    | `charge_orchestrator` | bool | `True` | bill the policy's own tokens at the catalogue's orchestrator price |
    | `catalogue` | Catalogue, dict, str or None | `None` | prices and aliases (None: the shipped `data/catalogue.yaml`) |
    | `max_output_chars` | int | `32768` | tool outputs longer than this are cut, with a marker |
    | `outages` | Outages, dict or None | `None` | providers or models down per episode or on a schedule of turns (`orchestra_env.outages`); a call to a down one waits its timeout, billed as latency |
    | `render_mode` | str or None | `None` | "ansi" or "human" (the transcript as text) |

    ## Version History
    * v0: initial release.
    """

    benchmark = "tau2"

    def __init__(
        self,
        domain: str = "airline",
        *,
        split: str = "all",
        user: Literal["scripted", "llm"] = "scripted",
        user_model: str | None = None,
        user_max_turns: int = 10,
        solo: bool = False,
        experts: "Mapping[str, Any] | Expert | None" = None,
        judge_model: str | None = None,
        tasks: Sequence[Tau2Task] | None = None,
        tau2_exact: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.domain: Tau2Domain = get_domain(domain)
        if solo and not self.domain.supports_solo:
            raise ValueError(f"tau2 domain {domain!r} has no solo mode (only domains with a solo policy do)")
        if user not in ("scripted", "llm"):
            raise ValueError(f"user must be 'scripted' or 'llm', not {user!r}")
        if user == "llm" and not user_model:
            raise ValueError("user='llm' needs user_model=<a model name served by the experts backend>")
        self.split, self.user_kind, self.user_model = split, user, user_model
        self.user_max_turns, self.solo, self.judge_model = user_max_turns, solo, judge_model
        self.tau2_exact = bool(tau2_exact)
        self._experts = ExpertsOnDemand(experts)
        self._given_tasks = list(tasks) if tasks is not None else None
        self._tau2_tasks: dict[str, Tau2Task] | None = None
        self._task_list: list[Task] | None = None
        self.tau2_tasks  # a bad split is the user's error: raise it at make() time

    # ------------------------------------------------------------------ tasks
    @property
    def experts(self) -> Expert:
        """The expert pool (``call_expert``, the LLM user, the NL judge), built on first use."""
        return self._experts.pool

    @property
    def tau2_tasks(self) -> dict[str, Tau2Task]:
        if self._tau2_tasks is None:
            tasks = self._given_tasks
            if tasks is None:
                tasks = load_tasks(self.domain.tasks_path, self.split, self.domain.split_path)
                if not tasks:
                    raise ValueError(
                        f"split {self.split!r} of tau2 {self.domain.name} has no task in the shipped "
                        f"task file ({self.domain.tasks_path.name}); use split='all'"
                        + (" or 'small'" if self.domain.name == "telecom" else "")
                    )
            if self.solo:
                tasks = [t for t in tasks if solo_compatible(t)]
            self._tau2_tasks = {t.id: t for t in tasks}
        return self._tau2_tasks

    @property
    def tasks(self) -> Sequence[Task]:
        if self._task_list is None:
            self._task_list = [self._as_task(t) for t in self.tau2_tasks.values()]
        return self._task_list

    def _as_task(self, t: Tau2Task) -> Task:
        return Task(
            task_id=t.id,
            benchmark="tau2",
            question=self._instructions(t),
            answer=render_solution(t),
            categories=(self.domain.name,),
            # the plan the simulated expert advises from, one step at a time (never reaches a policy)
            metadata={"domain": self.domain.name, "reward_basis": t.reward_basis, "plan": gold_steps(t)},
        )

    def _instructions(self, t: Tau2Task) -> str:
        if self.solo:
            return f"{SOLO_INSTRUCTION}\n\n<policy>\n{self.domain.policy_solo}\n</policy>\n\n<ticket>\n{t.ticket}\n</ticket>"
        return f"{AGENT_INSTRUCTION}\n\n<policy>\n{self.domain.policy}\n</policy>"

    # ------------------------------------------------------------------ hooks
    def _make_tools(self) -> dict[str, Tool]:
        tools: dict[str, Tool] = {
            name: DomainTool(name, method, self.tau2_exact, self.solo)
            for name, method in self.domain.tools_cls.tool_methods().items()
        }
        if self.solo and self.domain.user_tools_cls is not None:
            for name, method in self.domain.user_tools_cls.tool_methods().items():
                tools[name] = DomainTool(name, method, self.tau2_exact, self.solo)
        if self.solo:
            tools["done"] = DoneTool()
        else:
            tools["respond"] = RespondTool()
        tools["call_expert"] = CallExpertTool(self._experts, self.catalogue)
        return tools

    def _start(self, episode: Episode) -> str:
        task = self.tau2_tasks[episode.task.task_id]
        environment = Tau2Environment(self.domain, solo=self.solo, exact=self.tau2_exact)
        environment.apply_initial_state(task.initial_state)
        domain_tools = [name for name, tool in self.tools.items() if isinstance(tool, DomainTool)]
        conversation = Conversation.from_history(task.initial_state.message_history if task.initial_state else None,
                                                 episode.transcript, agent_tools=domain_tools)
        user = None if self.solo else self._make_user(task, episode)
        dialogue = Dialogue(user, conversation, device=environment.user_device())
        episode.world = Tau2World(dialogue=dialogue, task=task, environment=environment)
        prior = conversation.render() if conversation.turns else ""
        if user is None:
            return prior
        text = f"User: {dialogue.open().text}"
        return f"Conversation so far:\n{prior}\n\n{text}" if prior else text

    def _make_user(self, task: Tau2Task, episode: Episode) -> User:
        if self.user_kind == "llm":
            assert self.user_model is not None
            return llm_user(task, self._experts, self.user_model, seed=episode.call_seed("user"))
        return Tau2ScriptedUser(task, max_turns=self.user_max_turns)

    def _task_text(self, episode: Episode) -> str:
        return episode.task.question

    def _parse(self, action: Any) -> ToolCall | ParseError:
        call = parse_action(action) if self.solo else message_or_call(action)
        if self.solo and self.tau2_exact and isinstance(call, ParseError):
            text = message_or_call(action)
            if isinstance(text, ToolCall):  # text, not a broken call
                return ToolCall(SOLO_TEXT, text.arguments)
        return call

    def _dispatch(self, call: ToolCall | ParseError, episode: Episode) -> tuple[ToolResult, bool]:
        if isinstance(call, ToolCall) and call.tool == SOLO_TEXT:
            episode.world_as(Tau2World).dialogue.end = "agent_error"
            return ToolResult("", terminal=True, error="agent_error: text in solo mode"), False
        if self.tau2_exact and isinstance(call, ToolCall) and call.tool not in self.tools:
            environment = episode.world_as(Tau2World).environment
            output, _ = environment.call(call.tool, call.arguments)  # tau2: "Error: Tool 'x' not found."
            return ToolResult(output, error=output), False
        return super()._dispatch(call, episode)

    def _evaluate(self, episode: Episode) -> dict[str, Any]:
        world = episode.world_as(Tau2World)
        judge = NLAssertionJudge(self._experts, self.judge_model) if self.judge_model else None
        end = world.dialogue.end
        info: RewardInfo = evaluate(self.domain, world.task, world.environment, world.conversation,
                                    finished=end not in (None, "agent_error"), nl_judge=judge,
                                    premature="text message in solo mode" if end == "agent_error" else "max turns reached")
        return {
            "correct": abs(info.reward - 1.0) <= 1e-6,
            "reward": info.reward,
            "reward_breakdown": dict(info.breakdown),
            "reward_info": info.as_dict(),
            "end_reason": end or "max_turns",
            "user_usage": world.dialogue.usage.as_dict(),
        }


def solo_compatible(task: Tau2Task) -> bool:
    """tau2's ``LLMSoloAgent.check_valid_task``: a ticket and gold actions, or a prior
    history made of tool calls only."""
    if task.initial_state is not None:
        for m in task.initial_state.message_history or []:
            if m.role == "user" or (m.role == "assistant" and not m.tool_calls):
                return False
        return True
    return task.ticket is not None and task.evaluation_criteria is not None and bool(task.gold_actions)


def gold_steps(task: Tau2Task) -> list[dict[str, Any]]:
    """The task's reference solution as actions for :class:`Tau2Env` (add a goodbye to end it):
    each gold action in order, the agent's as a tool call, the user's (requestor "user") as a
    message asking the user to run it on their device, which the scripted user does; then
    the information to communicate, in one message."""
    steps: list[dict[str, Any]] = []
    for action in task.gold_actions:
        if action.requestor == "user":
            steps.append({"tool": "respond", "arguments": {"content": ask_user_to(action.name, action.arguments)}})
        else:
            steps.append({"tool": action.name, "arguments": dict(action.arguments)})
    info = (task.evaluation_criteria and task.evaluation_criteria.communicate_info) or []
    if info:
        steps.append({"tool": "respond", "arguments": {"content": " ".join(info)}})
    return steps
