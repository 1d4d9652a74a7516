"""Capability descriptions: measured figures equal an independent evaluation's, the described
catalogue loads, and the policy sees the descriptions in its tool schemas."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import gymnasium as gym
import pytest
import yaml

import orchestra_env  # noqa: F401 - registers the ids
from fault_server import Fault, FaultServer
from orchestra_env.experts.oracle import bound_task
from orchestra_env.data.frames import load_frames
from orchestra_env.data.hle import load_hle
from orchestra_env.experts import OpenAICompatExpert, SimulatedExpert
from orchestra_env.experts.describe import (
    describe, figures_text, main, measure, request_for, sample_tasks, write_catalogue,
)
from orchestra_env.judges import make_judge
from orchestra_env.usage import Catalogue

HLE_FIXTURE = str(Path(__file__).parent / "fixtures" / "hle_sample.jsonl")
MODELS = ["gpt-5", "Qwen2.5-Math-7B"]
PRICES = yaml.safe_load((Path(orchestra_env.__file__).parent / "data" / "catalogue.yaml").read_text())["models"]


@pytest.fixture(scope="module")
def samples():
    return {"frames": sample_tasks(load_frames("all"), 24, 3, "frames"),
            "hle": sample_tasks(load_hle(HLE_FIXTURE).tasks, 6, 3, "hle")}


@pytest.fixture(scope="module")
def reports(samples):
    return measure(SimulatedExpert(), Catalogue.default(), samples, MODELS, seed=3)


def test_sample_is_seeded_and_shared_by_every_model(samples):
    again = sample_tasks(load_frames("all"), 24, 3, "frames")
    assert [t.task_id for t in again] == [t.task_id for t in samples["frames"]]
    other = sample_tasks(load_frames("all"), 24, 4, "frames")
    assert [t.task_id for t in other] != [t.task_id for t in samples["frames"]]


def test_figures_equal_a_separate_evaluation(samples, reports):
    expert = SimulatedExpert()  # a fresh backend: nothing shared with measure()'s
    for model in MODELS:
        for benchmark, tasks in samples.items():
            judge = make_judge(benchmark)
            right, cost, latency = 0, 0.0, 0.0
            by_cat: dict[str, list[int]] = defaultdict(list)
            for task in tasks:
                with bound_task(task):  # requests carry no task; the simulated pool reads the bound one
                    response = expert.complete(request_for(model, task, seed=3))
                ok = judge(task, response.text).correct
                right += ok
                cost += (response.tokens_in * PRICES[model]["price_in"]
                         + response.tokens_out * PRICES[model]["price_out"]) / 1e6
                latency += response.latency_s
                for c in task.categories:
                    by_cat[c].append(ok)
            got = reports[model].benchmarks[benchmark].summary()
            assert got["n"] == len(tasks)
            assert got["accuracy"] == pytest.approx(right / len(tasks))
            assert got["cost_usd_per_call"] == pytest.approx(cost / len(tasks))
            assert got["latency_s_per_call"] == pytest.approx(latency / len(tasks))
            cats = reports[model].categories[benchmark]
            assert {c: (f.n, f.correct) for c, f in cats.items()} == {c: (len(v), sum(v)) for c, v in by_cat.items()}
    # the figures separate the models: the frontier model beats the 7B math model on FRAMES
    assert reports["gpt-5"].benchmarks["frames"].correct > reports["Qwen2.5-Math-7B"].benchmarks["frames"].correct


def test_deterministic_description_quotes_the_measured_figures(reports):
    s = reports["gpt-5"].benchmarks["frames"].summary()
    text = figures_text(reports["gpt-5"])
    assert f"FRAMES {100 * s['accuracy']:.0f}% correct (n=24" in text
    assert f"${s['cost_usd_per_call']:.4f}" in text and "HLE" in text
    low, high = s["ci95"]
    assert low <= s["accuracy"] <= high and f"{100 * low:.0f}%-{100 * high:.0f}%" in text


def test_model_without_a_backend_is_skipped_with_the_reason(samples):
    data = yaml.safe_load((Path(orchestra_env.__file__).parent / "data" / "catalogue.yaml").read_text())
    data["models"]["NoCard-1B"] = {"price_in": 0.1, "price_out": 0.1}
    out = measure(SimulatedExpert(), Catalogue.from_dict(data), {"hle": samples["hle"]}, ["NoCard-1B"])
    assert "no card for model 'NoCard-1B'" in out["NoCard-1B"].skipped
    assert figures_text(out["NoCard-1B"]) == ""


def test_llm_summariser_writes_the_description_and_a_failing_one_falls_back(reports):
    summary = "Strong generalist; slow and expensive; weak on HLE."
    with FaultServer([Fault("ok", text=summary), Fault("status", 400)]) as server:
        llm = OpenAICompatExpert(server.base_url, api_key_env=None, max_retries=0, deadline_s=10)
        assert describe(reports["gpt-5"], llm, "judge-model") == summary
        assert describe(reports["gpt-5"], llm, "judge-model") == figures_text(reports["gpt-5"])
        llm.close()
        shown = json.loads(server.seen[0].body["messages"][1]["content"].split("\n", 1)[1])
    assert shown["figures"]["benchmarks"]["frames"]["n"] == 24 and shown["trajectories"]


def test_described_catalogue_is_shown_to_the_policy(reports, tmp_path):
    descriptions = {m: figures_text(r) for m, r in reports.items()}
    path = write_catalogue(None, descriptions, tmp_path / "catalogue.yaml")
    assert Catalogue.load(path).price("gpt-5").description == descriptions["gpt-5"]
    env = gym.make("Orchestra/FRAMES-v0", catalogue=str(path))
    obs, _ = env.reset(seed=0)
    assert descriptions["gpt-5"] in obs["tools"] and descriptions["Qwen2.5-Math-7B"] in obs["tools"]
    assert env.observation_space.contains(obs)
    plain, _ = gym.make("Orchestra/FRAMES-v0").reset(seed=0)
    assert "Measured:" not in plain["tools"]
    tau, _ = gym.make("Orchestra/ToolScale-bank-v0", catalogue=str(path), num_tasks=2).reset(seed=0)
    assert descriptions["gpt-5"] in tau["tools"]  # call_expert lists expert-1 = gpt-5


def test_main_writes_the_catalogue_and_figures(tmp_path):
    out, figures = tmp_path / "cat.yaml", tmp_path / "fig.json"
    assert main(["--out", str(out), "--figures", str(figures), "--n", "6", "--seed", "3",
                 "--models", "gpt-5,Qwen3-32B", "--benchmarks", "hle", "--hle-path", HLE_FIXTURE]) == 0
    catalogue = Catalogue.load(out)
    data = json.loads(figures.read_text())
    assert set(data["models"]) == {"gpt-5", "Qwen3-32B"}
    for model in data["models"]:
        assert catalogue.price(model).description == data["models"][model]["description"]
        assert f"n={data['models'][model]['benchmarks']['hle']['n']}" in catalogue.price(model).description
    assert catalogue.price("Llama-3.3-70B").description == ""  # not measured, not described
