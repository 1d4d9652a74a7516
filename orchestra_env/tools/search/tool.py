"""The ``search`` tool: a query (written by the policy or by a chosen model) against an index."""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import pydantic

from orchestra_env.episode import Episode
from orchestra_env.experts.base import Expert
from orchestra_env.tools.base import ToolResult
from orchestra_env.tools.catalogue_text import describe_role
from orchestra_env.tools.llm_tools import ExpertTool, alias_field
from orchestra_env.tools.search.base import Index, format_passages
from orchestra_env.usage import Catalogue

QUERY_INSTRUCTION = (
    "Write one search query (a few keywords, no explanation) that finds the missing "
    "information needed to answer the question."
)


class SearchTool(ExpertTool):
    """Search a corpus. The index is built on first use (cached on disk and per process)."""

    role = "search"

    def __init__(self, index: Callable[[], Index], experts: Expert, catalogue: Catalogue,
                 corpus_name: str, k: int = 5, max_context_chars: int = 8_000, keep: int = 0,
                 documents: bool = False) -> None:
        """``documents``: record every passage retrieved (``max(k, keep)``; the policy is shown the
        top ``k``) as the result's ``documents``, which experts are then shown
        (:meth:`ExpertTool.shown`; ToolOrchestra's harness keeps a search's top 150 for them)."""
        description = (
            f"Search {corpus_name} and return the top {k} passages with title and url. Pass "
            "`query` to search yourself, or `model` to have that model write the query from the "
            "question and what is known so far. Query-writing models:\n" + describe_role("search", catalogue)
        )
        fields = {
            "model": alias_field(catalogue, "search", required=False),
            "query": (Optional[str], pydantic.Field(None, description="Your own search query.")),
        }
        super().__init__("search", description, fields, experts, catalogue, max_context_chars, documents)
        self._index_factory, self._index = index, None
        self.k, self.keep = k, keep

    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = self._index_factory()
        return self._index

    def __call__(self, arguments: Mapping[str, Any], episode: Episode) -> ToolResult:
        alias, query = arguments.get("model"), arguments.get("query")
        if not alias and not (query and query.strip()):
            return ToolResult("Invalid arguments: give `query` or `model`.", error="bad_arguments: empty search")
        usage = None
        if alias:
            context = self.shown(episode, alias)
            user = f"Question: {episode.task.question}"
            if query:
                user += f"\nSuggested focus: {query}"
            if context:
                user = f"Known so far:\n{context}\n\n{user}"
            messages = [{"role": "system", "content": QUERY_INSTRUCTION}, {"role": "user", "content": user}]
            response, usage = self.ask(alias, messages, episode, max_tokens=64)
            if response.error:
                return self.failed(alias, response, usage)
            query = response.text.strip().splitlines()[0] if response.text.strip() else (query or "")
        result = self.index.search(query, max(self.k, self.keep))
        total = result.usage if usage is None else usage + result.usage
        documents = tuple(p.text.strip() for p in result.passages) if self.documents else ()
        return ToolResult(f"Query: {query}\n\n" + format_passages(result.passages[:self.k]), total, alias,
                          documents=documents)
