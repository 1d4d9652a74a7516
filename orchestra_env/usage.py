"""What a tool call spent, and the price list that turns tokens into dollars.

Every tool returns a :class:`Usage`; the environment sums them. Prices come from a
:class:`Catalogue` (``data/catalogue.yaml`` by default, ToolOrchestra's table), so changing a
price never means changing code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

ROLES = ("search", "reasoner", "answer", "expert")


@dataclass(frozen=True)
class Usage:
    """Resources one call consumed. Summable: ``total = a + b``."""

    cost_usd: float = 0.0
    latency_s: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.cost_usd + other.cost_usd,
            self.latency_s + other.latency_s,
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "cost_usd": self.cost_usd,
            "latency_s": self.latency_s,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
        }


def approx_tokens(text: str) -> int:
    """Deterministic token estimate (4 characters a token, as OpenAI's rule of thumb).

    Used where no tokenizer is at hand (the simulated pool, the orchestrator's own
    context); real backends report the server's counts instead.
    """
    return max(1, math.ceil(len(text) / 4)) if text else 0


@dataclass(frozen=True)
class ModelPrice:
    """A real model's price in dollars per million input and output tokens."""

    name: str
    price_in: float
    price_out: float
    description: str = ""  # optional capability text (``orchestra describe-models``), shown to the policy
    # the most of an episode one expert call of this model is shown, in tokens, when the env shows
    # experts the retrieved documents (``expert_context="documents"``); None: the env's default
    context_tokens: int | None = None

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.price_in + tokens_out * self.price_out) / 1e6


@dataclass(frozen=True)
class Alias:
    """A name the policy calls (``reasoner-2``) bound to a role, a model and a typical latency."""

    name: str
    role: str
    model: str
    latency_s: float


@dataclass(frozen=True)
class ToolPrices:
    search_base_usd: float = 0.01
    search_per_page_usd: float = 0.002
    local_search_latency_s: float = 0.5
    code_usd_per_s: float = 0.0000083


_SHAPE = (
    "a catalogue is a mapping with 'models' ({name: {price_in: $/1M, price_out: $/1M}}), "
    "'aliases' ({name: {role, model, latency_s}}), optional 'tools' and 'orchestrator'; "
    "see orchestra_env/data/catalogue.yaml"
)


def _check_shape(data: Any) -> None:
    """Raise ``ValueError`` naming the first missing or mistyped entry and the expected shape."""
    if not isinstance(data, Mapping):
        raise ValueError(f"catalogue must be a mapping, got {type(data).__name__}: {_SHAPE}")
    for section in ("models", "aliases"):
        if not isinstance(data.get(section), Mapping):
            raise ValueError(f"catalogue has no '{section}' mapping: {_SHAPE}")
    for name, price in data["models"].items():
        missing = [k for k in ("price_in", "price_out") if not isinstance(price, Mapping) or k not in price]
        if missing:
            raise ValueError(f"catalogue model {name!r} lacks {missing}: {_SHAPE}")
        for key in ("price_in", "price_out"):
            if not isinstance(price[key], (int, float)) or isinstance(price[key], bool) or price[key] < 0:
                raise ValueError(f"catalogue model {name!r}: {key} must be a number >= 0 ($ per 1M tokens), "
                                 f"got {price[key]!r}")
        context = price.get("context_tokens")
        if context is not None and (not isinstance(context, int) or isinstance(context, bool) or context < 1):
            raise ValueError(f"catalogue model {name!r}: context_tokens must be a whole number of tokens >= 1, "
                             f"got {context!r}")
    for name, alias in data["aliases"].items():
        missing = [k for k in ("role", "model", "latency_s") if not isinstance(alias, Mapping) or k not in alias]
        if missing:
            raise ValueError(f"catalogue alias {name!r} lacks {missing}: {_SHAPE}")


@dataclass(frozen=True)
class Catalogue:
    """Models, the aliases the policy sees, and non-LLM tool prices."""

    models: Mapping[str, ModelPrice]
    aliases: Mapping[str, Alias]
    tools: ToolPrices = field(default_factory=ToolPrices)
    orchestrator: str = "Qwen3-8B"

    @classmethod
    def default(cls) -> "Catalogue":
        text = resources.files("orchestra_env").joinpath("data/catalogue.yaml").read_text()
        return cls.from_dict(yaml.safe_load(text))

    @classmethod
    def load(cls, source: "str | Path | Mapping[str, Any] | Catalogue | None" = None) -> "Catalogue":
        """A catalogue from a YAML path, a dict of the same shape, or the default."""
        if source is None:
            return cls.default()
        if isinstance(source, Catalogue):
            return source
        if not isinstance(source, (str, Path)):
            return cls.from_dict(source)  # a mapping, or a wrong shape that from_dict explains
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"catalogue file not found: {path}")
        return cls.from_dict(yaml.safe_load(path.read_text()))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Catalogue":
        """Validate the shape first, so a malformed file fails here with the fix, not later
        with a bare ``KeyError`` inside a tool."""
        _check_shape(data)
        models = {
            name: ModelPrice(name, float(p["price_in"]), float(p["price_out"]), str(p.get("description") or ""),
                             p.get("context_tokens"))
            for name, p in data["models"].items()
        }
        aliases = {}
        for name, a in data["aliases"].items():
            if a["role"] not in ROLES:
                raise ValueError(f"alias {name!r}: role {a['role']!r} is not one of {ROLES}")
            if a["model"] not in models:
                raise ValueError(f"alias {name!r} names model {a['model']!r}, which has no price; "
                                 f"add it under models: {{price_in: ..., price_out: ...}}")
            aliases[name] = Alias(name, a["role"], a["model"], float(a["latency_s"]))
        orchestrator = data.get("orchestrator", "Qwen3-8B")
        if orchestrator not in models:
            raise ValueError(f"orchestrator model {orchestrator!r} has no price")
        unknown_tools = set(data.get("tools") or {}) - set(ToolPrices.__dataclass_fields__)
        if unknown_tools:
            raise ValueError(f"catalogue tools: unknown keys {sorted(unknown_tools)}; "
                             f"known: {sorted(ToolPrices.__dataclass_fields__)}")
        return cls(models, aliases, ToolPrices(**(data.get("tools") or {})), orchestrator)

    def aliases_for(self, role: str) -> list[Alias]:
        return [a for a in self.aliases.values() if a.role == role]

    def price(self, model: str) -> ModelPrice:
        return self.models[model]

    def model_usage(self, model: str, tokens_in: int, tokens_out: int, latency_s: float) -> Usage:
        """Usage of one LLM call, priced from the catalogue."""
        cost = self.models[model].cost(tokens_in, tokens_out)
        return Usage(cost, latency_s, tokens_in, tokens_out)

    def code_usage(self, seconds: float) -> Usage:
        return Usage(seconds * self.tools.code_usd_per_s, seconds, 0, 0)
