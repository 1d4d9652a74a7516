"""How the policy reads a price list: one line per alias, as ToolOrchestra's tool descriptions."""
from __future__ import annotations

from orchestra_env.usage import Alias, Catalogue


def describe_alias(alias: Alias, catalogue: Catalogue) -> str:
    price = catalogue.price(alias.model)
    line = (
        f"{alias.name}: {alias.model}, ${price.price_in:g} per 1M input tokens, "
        f"${price.price_out:g} per 1M output tokens, typical latency {alias.latency_s:g} s"
    )
    # a measured capability description, when the catalogue has one (orchestra_env.experts.describe)
    return f"{line}. {price.description}" if price.description else line


def describe_role(role: str, catalogue: Catalogue) -> str:
    return "\n".join(describe_alias(a, catalogue) for a in catalogue.aliases_for(role))
