"""A router that reads what each action *is* instead of learning a fixed output layer over aliases.

ToolOrchestra's generalisation claim is that an orchestrator trained with one set of tools and
prices keeps working when tools, models and prices change, because it reads their descriptions.
A :class:`~agents.routers.MiniLMRouter` cannot: its last layer has one logit per alias it was
trained on. :class:`DescriptionRouter` scores (task, action description) pairs instead, so a new
alias is just one more row to score:

* each menu item is described by the text the env shows the policy (the tool name and the
  catalogue's line for the alias: model name, $ per 1M tokens, latency and the optional measured
  capability description), embedded by MiniLM, plus numbers read from that same text: the role
  (search / reasoner / answer), log price, latency, and the accuracy and the $ per call the
  description states for the env's benchmark (``FRAMES 45% correct``, ``$0.0089 ... per call``)
  when it states them: per-token prices alone hide what a call costs (GPT-5 bills its hidden
  reasoning, so its measured call costs seven times Claude-Sonnet's at a lower per-token price);
* ``score(obs, item) = MLP([task ⊙ item, history ⊙ item, item numbers, spent])``, one shared MLP
  for every item; the logits are the scores of the menu's items. With ``use_text=False`` the
  two text products are left out: the score reads only the numbers a description states (role,
  price, latency, stated accuracy) and what was spent, so no parameter can single out an alias
  by its name, at the price of routing every question alike.

:meth:`DescriptionRouter.bind` points the router at a view's menu (a new catalogue means a new
bind, no new parameters). It trains with :func:`agents.routers.train_router` like the others.
"""
from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from agents.embedding import EMBED_DIM, shared_embedder
from agents.menu import MenuItem
from agents.routers import Router, RouterConfig
from agents.routing_view import RoutingView

if TYPE_CHECKING:
    import torch

ROLES = ("search", "enhance_reasoning", "answer")
N_NUMBERS = len(ROLES) + 4
N_SPENT = 3


def item_text(item: MenuItem, catalogue: Any) -> str:
    """What the policy is told about the item: the tool and its alias's catalogue line."""
    from orchestra_env.tools.catalogue_text import describe_alias

    if item.alias is None or item.alias not in catalogue.aliases:
        return item.tool
    return f"{item.tool} with {describe_alias(catalogue.aliases[item.alias], catalogue)}"


def stated_accuracy(text: str, benchmark: str) -> float | None:
    """The accuracy a description states for ``benchmark`` (``FRAMES 45% correct`` -> 0.45)."""
    match = re.search(rf"{re.escape(benchmark)}\s+(\d+(?:\.\d+)?)% correct", text, re.I)
    return float(match.group(1)) / 100 if match else None


def stated_cost(text: str, benchmark: str) -> float | None:
    """The $ per call a description states after its ``benchmark`` figure (``$0.0089 and 27.8 s per call``)."""
    match = re.search(rf"{re.escape(benchmark)}\s+\d+(?:\.\d+)?% correct[^$]*\$(\d+(?:\.\d+)?) and [\d.]+ s per call",
                      text, re.I)
    return float(match.group(1)) if match else None


NO_COST = -4.0  # log10 $ per call of an item whose description states none (a local tool: ~free)


def item_numbers(item: MenuItem, catalogue: Any, benchmark: str) -> np.ndarray:
    """Role one-hot, log10 of $ per 1M in+out, latency / 60 s, stated accuracy (0.3 if none),
    log10 of the stated $ per call (:data:`NO_COST` if none)."""
    role = [float(item.tool == r) for r in ROLES]
    if item.alias is None or item.alias not in catalogue.aliases:
        return np.array(role + [0.0, 0.0, 0.3, NO_COST], dtype=np.float32)
    alias = catalogue.aliases[item.alias]
    price = catalogue.price(alias.model)
    text = item_text(item, catalogue)
    acc, usd = stated_accuracy(text, benchmark), stated_cost(text, benchmark)
    return np.array(role + [math.log10(price.price_in + price.price_out + 1e-3), alias.latency_s / 60.0,
                            0.3 if acc is None else acc,
                            NO_COST if usd is None else math.log10(max(usd, 1e-4))], dtype=np.float32)


class DescriptionRouter(Router):
    """Scores each (observation, menu item description) pair with one shared MLP."""

    def __init__(self, hidden: int = 64, seed: int = 0, embed: Any = None, embed_dim: int = EMBED_DIM,
                 use_text: bool = True) -> None:
        import torch

        torch.manual_seed(seed)
        self.embed = embed if embed is not None else shared_embedder()
        self.embed_dim, self.use_text = embed_dim, use_text
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2 * embed_dim * use_text + N_NUMBERS + N_SPENT, hidden), torch.nn.Tanh(),
            torch.nn.Linear(hidden, 1))
        self.labels: list[str] = []
        self._item_emb: "torch.Tensor | None" = None
        self._item_num: "torch.Tensor | None" = None

    def bind(self, view: RoutingView) -> "DescriptionRouter":
        """Describe ``view``'s menu (its catalogue may hold aliases never seen in training)."""
        import torch

        base = view.unwrapped
        benchmark = base.tasks[0].benchmark if base.tasks else ""
        items = view.menu.items
        self.labels = [it.label for it in items]
        emb = np.stack([self.embed(item_text(it, base.catalogue)) for it in items]).astype(np.float32)
        self._item_emb = torch.as_tensor(emb)
        self._item_num = torch.as_tensor(np.stack([item_numbers(it, base.catalogue, benchmark) for it in items]))
        return self

    def param_groups(self, config: RouterConfig) -> list[dict[str, Any]]:
        return [{"params": list(self.net.parameters()), "lr": config.learning_rate}]

    def distribution(self, obs: "torch.Tensor", tasks: Sequence[str] | None = None
                     ) -> "torch.distributions.Categorical":
        import torch

        if self._item_emb is None or self._item_num is None:
            raise ValueError("DescriptionRouter.bind(view) first: it scores the view's menu items")
        d = self.embed_dim
        task, history, spent = obs[:, :d], obs[:, d:2 * d], obs[:, 2 * d:]
        n, m = obs.shape[0], self._item_emb.shape[0]
        items = self._item_emb[None].expand(n, m, d)
        text = [task[:, None] * items, history[:, None] * items] if self.use_text else []
        features = torch.cat(text + [self._item_num[None].expand(n, m, -1), spent[:, None].expand(n, m, -1)], dim=-1)
        return torch.distributions.Categorical(logits=self.net(features).squeeze(-1))
