"""Unseen tools: a catalogue adding models never seen in training loads, the simulated pool serves
them from their calibrated cards, and the description-scoring router scores and can choose them."""
from __future__ import annotations

import numpy as np
import pytest

from agents.description_router import DescriptionRouter, item_numbers, stated_accuracy
from agents.routing_view import RoutingView
from benchmarks.unseen_tools import NEW_ALIASES, NEW_PRICES, PRICE_CHANGES, make_env, write_world
from orchestra_env.usage import Catalogue

torch = pytest.importorskip("torch")


def _hash_embed(text: str) -> np.ndarray:
    """A cheap deterministic stand-in for MiniLM (what is tested is the routing, not the embedder)."""
    rng = np.random.default_rng(abs(hash(text)) % (2**32))
    v = rng.normal(size=384)
    return (v / np.linalg.norm(v)).astype(np.float32)


_hash_embed.dim = 384  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def unseen(tmp_path_factory):
    world = write_world(tmp_path_factory.mktemp("unseen"), unseen=True, n_describe=12)
    view = RoutingView(make_env("test", world), embed=_hash_embed)
    yield view
    view.close()


def test_unseen_catalogue_loads_with_priced_described_new_aliases(unseen):
    catalogue = unseen.unwrapped.catalogue
    assert set(NEW_ALIASES) <= set(catalogue.aliases)
    labels = unseen.menu.labels
    assert {"answer:answer-5", "answer:answer-math-3", "search:search-4", "enhance_reasoning:reasoner-4"} <= set(labels)
    for model, price in NEW_PRICES.items():
        assert catalogue.price(model).price_in == price["price_in"]
        assert stated_accuracy(catalogue.price(model).description, "frames") is not None
    # a changed price scales the per-token prices only; the model's context budget stays a whole number
    default = Catalogue.default()
    for model, factor in PRICE_CHANGES.items():
        assert catalogue.price(model).price_in == pytest.approx(default.price(model).price_in * factor)
        assert catalogue.price(model).context_tokens == default.price(model).context_tokens
    # the new alias is billed at the new price and answered by the pool from its card
    obs, _ = unseen.reset(seed=0, options={"task_index": 0})
    _, _, terminated, _, info = unseen.step(labels.index("answer:answer-5"))
    assert terminated and info["cost_usd"] > 0 and info["features"]["calls/answer-5"] == 1


def test_description_router_scores_and_can_choose_every_new_alias(unseen):
    router = DescriptionRouter(seed=0, embed=_hash_embed).bind(unseen)
    obs, _ = unseen.reset(seed=0, options={"task_index": 0})
    dist = router.distribution(torch.as_tensor(obs)[None])
    assert dist.probs.shape[-1] == len(unseen.menu)
    new = [i for i, label in enumerate(unseen.menu.labels) if label.split(":")[-1] in NEW_ALIASES]
    assert len(new) == len(NEW_ALIASES) and bool((dist.probs[0, new] > 0).all())
    # scores depend on the description: raise the stated accuracy feature of one new item and
    # a router that rewards stated accuracy picks it
    with torch.no_grad():
        for p in router.net.parameters():
            p.zero_()
        first, last = router.net[0], router.net[2]
        acc_column = 2 * router.embed_dim + 5  # role x3, log price, latency, stated accuracy
        first.weight[0, acc_column] = 1.0
        last.weight[0, 0] = 1.0
    target = unseen.menu.labels.index("answer:answer-5")
    router._item_num[target, 5] = 5.0
    assert router.predict(obs) == target
    _, _, terminated, _, _ = unseen.step(target)
    assert terminated


def test_item_numbers_read_role_price_and_stated_accuracy(unseen):
    item = unseen.menu.items[unseen.menu.labels.index("answer:answer-math-3")]
    nums = item_numbers(item, unseen.unwrapped.catalogue, "frames")
    assert list(nums[:3]) == [0.0, 0.0, 1.0]
    assert nums[3] == pytest.approx(np.log10(0.3 + 1.2 + 1e-3))
    assert 0.0 <= nums[5] <= 1.0
    from agents.description_router import item_text, stated_cost

    text = item_text(item, unseen.unwrapped.catalogue)
    usd = stated_cost(text, "frames")
    assert usd is not None and nums[6] == pytest.approx(np.log10(usd))  # the measured $ per call it states
    assert stated_cost("FRAMES 50% correct (n=60, 95% CI 38%-62%), $0.0089 and 27.8 s per call", "frames") == 0.0089
    assert stated_cost("no measured figure", "frames") is None


def test_training_variants_reprice_and_drop_aliases_but_keep_every_role(tmp_path):
    from importlib import resources

    import yaml

    from benchmarks.unseen_tools import vary_catalogue

    shipped = yaml.safe_load(resources.files("orchestra_env").joinpath("data/catalogue.yaml").read_text())
    seen_roles = {v["role"] for v in shipped["aliases"].values()}
    variants = []
    for k in range(3):
        cat = yaml.safe_load(yaml.safe_dump(shipped))
        vary_catalogue(cat, k, seed=0)
        variants.append(cat)
        assert {v["role"] for v in cat["aliases"].values()} == seen_roles
        for role in ("reasoner", "answer"):
            before = [a for a, v in shipped["aliases"].items() if v["role"] == role]
            after = [a for a, v in cat["aliases"].items() if v["role"] == role]
            assert len(after) == len(before) - len(before) // 2 and set(after) <= set(before)
        for model, card in cat["models"].items():
            if "price_in" in card:
                factor = card["price_in"] / shipped["models"][model]["price_in"]
                assert 0.25 <= factor <= 4.0
                assert card["price_out"] == pytest.approx(shipped["models"][model]["price_out"] * factor)
        Catalogue.from_dict(cat)  # still a valid catalogue
    assert len({tuple(sorted(v["aliases"])) for v in variants}) > 1  # the variants differ in their menus
    again = yaml.safe_load(yaml.safe_dump(shipped))
    vary_catalogue(again, 0, seed=0)
    assert again == variants[0]  # seeded
    world = write_world(tmp_path, unseen=False, n_describe=12, variant=1)
    view = RoutingView(make_env("train", world), embed=_hash_embed)
    assert set(view.unwrapped.catalogue.aliases) == set(variants[1]["aliases"])
    view.close()


def test_a_numbers_only_router_ignores_the_text(unseen):
    router = DescriptionRouter(seed=0, embed=_hash_embed, embed_dim=384, use_text=False).bind(unseen)
    obs, _ = unseen.reset(seed=0, options={"task_index": 0})
    other = obs.copy()
    other[:2 * 384] = np.roll(obs[:2 * 384], 7)  # another task and history text, the same spend
    with torch.no_grad():
        a = router.distribution(torch.as_tensor(obs)[None]).logits
        b = router.distribution(torch.as_tensor(other)[None]).logits
    assert torch.allclose(a, b)  # only the items' stated numbers and the spend are read
    texted = DescriptionRouter(seed=0, embed=_hash_embed, embed_dim=384).bind(unseen)
    with torch.no_grad():
        assert not torch.allclose(texted.distribution(torch.as_tensor(obs)[None]).logits,
                                  texted.distribution(torch.as_tensor(other)[None]).logits)


def test_the_run_records_what_each_answer_description_states(unseen):
    from benchmarks.unseen_tools import stated_figures

    stated = stated_figures(unseen)
    assert "answer-5" in stated and "search-4" not in stated  # answer calls only, new ones included
    acc, usd = stated["answer-5"]
    assert 0.0 <= acc <= 1.0 and usd > 0.0


def test_the_run_reports_the_trained_routers_entropy_and_step_size(tmp_path, monkeypatch):
    """The unseen-tools table shows the router's entropy after training beside ln |menu| (near it,
    the greedy pick is an untrained tie-break), and ``learning_rate`` reaches GRPO's config."""
    import math

    import agents.routers
    from benchmarks.unseen_tools import UnseenConfig, markdown, train_description_router

    seen: list = []

    def fake_train(envs, rc, router):
        seen.append(rc.learning_rate)
        return router, [{"env_steps": rc.max_env_steps - 8, "loss/entropy": 2.4}, {"env_steps": rc.max_env_steps}]

    monkeypatch.setattr(agents.routers, "train_router", fake_train)
    monkeypatch.setattr("agents.description_router.shared_embedder", lambda: _hash_embed)
    world = write_world(tmp_path, unseen=False, n_describe=4)
    _, entropy, menu = train_description_router(UnseenConfig(steps=150, learning_rate=3e-2), 0, [world])
    assert seen == [3e-2] and entropy == 2.4 and menu == 12
    row = {"policy": "description_router", "world": "seen", "n": 4, "reward": 0.1, "reward_lo": 0.0,
           "reward_hi": 0.2, "accuracy": 10.0, "cost_usd": 0.01, "seed": 0, "new_alias_share": 0.0,
           "train_entropy": entropy, "train_menu": menu}
    bayes = {k: v for k, v in row.items() if k != "seed"} | {"policy": "bayes", "acc_lo": 5.0, "acc_hi": 20.0}
    table = markdown([bayes, row])
    assert f"| 2.40 ± 0.00 (uniform over the training menu: {math.log(12):.2f}) |" in table
