"""Benchmarks: run records, repeatability (same seed -> same table), policy specs, the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import budget_curves, env_throughput, table1, tool_use  # noqa: E402
from benchmarks.common import (  # noqa: E402
    VOLATILE_FIELDS, RunRecord, compare_results, make_policy, parse_policy, read_result, result_path, select_envs,
    write_result,
)

pytest.importorskip("matplotlib")


def small_table(out: Path, seed: int = 0) -> table1.Table1Config:
    return table1.Table1Config(n=3, seed=seed, envs=["HLE", "FRAMES", "tau2-airline"],
                               policies=["random", "heuristic", "oracle"], out=str(out), progress=False)


def test_same_seed_gives_the_same_table(tmp_path):
    first = table1.main(config=small_table(tmp_path / "a" / "table1"))
    table1.main(config=small_table(tmp_path / "b" / "table1"))
    # git state is ignored here only because other work may commit between the two runs
    same_code = VOLATILE_FIELDS + ("git_commit", "git_dirty")
    assert compare_results(tmp_path / "a" / "table1.json", tmp_path / "b" / "table1.json", same_code) == []
    # The CSVs are byte-identical below the run-record line (which holds the timestamp).
    a, b = ((tmp_path / d / "table1.csv").read_text().splitlines() for d in "ab")
    assert a[0].startswith("# run: ") and a[1:] == b[1:]
    assert (tmp_path / "a" / "table1.md").read_bytes() == (tmp_path / "b" / "table1.md").read_bytes()
    # The oracle cannot look ahead without an answer tool: a skipped row, not a crash.
    oracle_tau2 = next(r for r in first if r["env"] == "tau2-airline" and r["policy"] == "oracle")
    assert oracle_tau2["status"].startswith("skipped") and "accuracy" not in oracle_tau2
    assert {r["n_tasks"] for r in first if r["status"] == "ok"} == {3}


def test_a_different_seed_is_a_different_run(tmp_path):
    table1.main(config=small_table(tmp_path / "a", seed=0))
    table1.main(config=small_table(tmp_path / "b", seed=5))
    diffs = compare_results(tmp_path / "a.json", tmp_path / "b.json")
    assert "record.seed: 0 != 5" in diffs
    assert any(d.startswith("rows[") for d in diffs)  # other tasks were drawn


def test_record_says_how_to_repeat_the_run(tmp_path):
    import orchestra_env

    config = small_table(tmp_path / "t")
    record = RunRecord.start("table1", config)
    paths = write_result(tmp_path / "t", [{"env": "x", "value": 0.5}], record)
    assert [p.suffix for p in paths] == [".csv", ".json"]
    stored = read_result(tmp_path / "t")["record"]
    assert stored["seed"] == 0 and stored["package_version"] == orchestra_env.__version__
    assert stored["config"]["envs"] == ["HLE", "FRAMES", "tau2-airline"] and "out" not in stored["config"]
    assert stored["experts"] == {"default": "simulated", "models": {}}
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode == 0:
        assert stored["git_commit"] == head.stdout.strip()
    line = (tmp_path / "t.csv").read_text().splitlines()[0]
    assert json.loads(line.removeprefix("# run: "))["seed"] == 0


def test_a_dot_in_an_output_stem_is_kept(tmp_path):
    # Path.with_suffix would write runs/lr2.json for the stem runs/lr2.5e-4, and lr2.5e-3 would overwrite it
    record = RunRecord.start("table1", small_table(tmp_path / "x"))
    paths = write_result(tmp_path / "lr2.5e-4", [{"value": 1.0}], record)
    assert [p.name for p in paths] == ["lr2.5e-4.csv", "lr2.5e-4.json"]
    assert read_result(tmp_path / "lr2.5e-4")["rows"] == [{"value": 1.0}]
    assert result_path(tmp_path / "t.json", ".md") == tmp_path / "t.md"


def test_compare_results_ignores_only_volatile_fields(tmp_path):
    config = small_table(tmp_path)
    rows = [{"env": "FRAMES", "accuracy": 0.5}]
    write_result(tmp_path / "a", rows, RunRecord.start("table1", config))
    later = RunRecord.start("table1", config)
    later.created_at, later.duration_s = "2099-01-01T00:00:00", 123.0
    write_result(tmp_path / "b", rows, later)
    assert compare_results(tmp_path / "a", tmp_path / "b") == []
    write_result(tmp_path / "c", [{"env": "FRAMES", "accuracy": 0.6}], later)
    assert compare_results(tmp_path / "a", tmp_path / "c") == ["rows[0].accuracy: 0.5 != 0.6"]


def test_policy_specs():
    assert parse_policy("oracle:searches=8,alias=expert-1") == ("oracle", {"searches": 8, "alias": "expert-1"})
    assert make_policy("heuristic:searches=3").searches == 3
    assert type(make_policy("agents.baselines:RandomPolicy")).__name__ == "RandomPolicy"
    with pytest.raises(ValueError, match="key=value"):
        parse_policy("oracle:searches")
    with pytest.raises(ValueError, match="unknown baseline"):
        make_policy("nonsense")


def test_env_labels_and_prefixes():
    assert [s.label for s in select_envs(["tau2"])] == ["tau2-airline", "tau2-retail", "tau2-telecom"]
    assert len(select_envs(["ToolScale"])) == 10
    assert select_envs(["FRAMES", "FRAMES"])[0].kwargs == {"split": "test"}
    with pytest.raises(ValueError, match="unknown env label"):
        select_envs(["FRAME"])


def test_hle_path_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ORCHESTRA_HLE_PATH", str(tmp_path / "hle.jsonl"))
    assert select_envs(["HLE"])[0].kwargs["path"] == str(tmp_path / "hle.jsonl")
    monkeypatch.delenv("ORCHESTRA_HLE_PATH")
    assert select_envs(["HLE"])[0].kwargs["path"].endswith("benchmarks/data/hle_sample.jsonl")  # shipped, not tests/


def test_budget_curves_respect_the_turn_budget(tmp_path):
    config = budget_curves.BudgetConfig(n=4, envs=["FRAMES"], policies=["random", "heuristic:searches=3"],
                                        budgets=[1, 2, 10], out=str(tmp_path / "b"), progress=False)
    rows = budget_curves.main(config=config)
    assert len(rows) == 6 and all(r["mean_turns"] <= r["max_turns"] for r in rows)
    capped = {r["max_turns"]: r for r in rows if r["policy"] == "heuristic:searches=3"}
    assert capped[1]["accuracy"] == 0.0 and capped[10]["mean_turns"] == 4.0  # cut before answering / finished
    assert (tmp_path / "b.png").stat().st_size > 1000


def test_tool_use_shares_sum_to_one_per_agent(tmp_path):
    rows = tool_use.main(config=tool_use.ToolUseConfig(n=3, envs=["FRAMES"], policies=["random", "heuristic"],
                                                       out=str(tmp_path / "tu"), progress=False))
    for policy in ("random", "heuristic"):
        for kind in ("tool", "model"):
            shares = [r["share"] for r in rows if r["policy"] == policy and r["kind"] == kind]
            assert shares and sum(shares) == pytest.approx(1.0)
    heuristic_tools = {r["name"]: r["share"] for r in rows if r["policy"] == "heuristic" and r["kind"] == "tool"}
    assert heuristic_tools == {"answer": 0.5, "search": 0.5}  # search once, then answer


def test_throughput_splits_step_time(tmp_path):
    config = env_throughput.ThroughputConfig(n=4, warmup=1, out=str(tmp_path / "thr"), progress=False)
    [row] = env_throughput.main(config=config)
    assert row["episodes"] == 4 and row["steps"] >= 4 and row["steps_per_s"] > 0
    assert row["share_env"] + row["share_tools"] + row["share_judge"] == pytest.approx(1.0)
    tools = sum(v for k, v in row.items() if k.startswith("share_tool/"))
    assert tools == pytest.approx(row["share_tools"]) and row["share_tools"] > 0


def test_timed_tool_passes_everything_through():
    from collections import defaultdict

    class Tool:
        name = "t"

        def validate(self, args):
            return dict(args)

        def __call__(self, args, episode):
            return args["x"] * 2

    totals = defaultdict(float)
    timed = env_throughput.Timed(Tool(), "tool/t", totals)
    assert timed.name == "t" and timed.validate({"x": 1}) == {"x": 1} and timed({"x": 2}, None) == 4
    assert totals["tool/t"] > 0


def test_cli_bench_writes_results(tmp_path, capsys):
    from orchestra.cli import main

    out = tmp_path / "tu"
    assert main(["bench", "tool-use", "--n", "2", "--envs", "FRAMES", "--policies", "cheapest",
                 "--out", str(out), "--quiet"]) == 0
    rows = read_result(out)["rows"]
    assert {(r["kind"], r["name"]) for r in rows} == {("tool", "answer"), ("model", "answer-math-2"),
                                                      ("target", "Qwen2.5-Math-7B")}  # the alias's real model
    assert out.with_suffix(".png").is_file()
    assert main(["bench", "--help"]) == 0 and "table1" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="unknown env label 'nope'; choose from"):
        main(["bench", "table1", "--envs", "nope", "--out", str(tmp_path / "x"), "--quiet"])


def test_run_config_flags_follow_the_fields():
    from benchmarks.common import parse_run_config
    from benchmarks.routing import RoutingConfig

    config = parse_run_config(["--steps", "7", "--learners", "sb3_ppo", "minilm_router", "--no-progress",
                               "--seed", "3"], RoutingConfig(), None)
    assert (config.steps, config.learners, config.progress, config.seed) == (7, ["sb3_ppo", "minilm_router"], False, 3)
    assert config.eval_tasks == RoutingConfig().eval_tasks and "out" not in config.recorded()
    with pytest.raises(SystemExit):
        parse_run_config(["--steps", "many"], RoutingConfig(), None)


def _recorded_routing(tmp_path, dirty: bool = False) -> tuple[Path, list[dict]]:
    """A recorded routing result (record + rows) as --resume-from reads it."""
    from benchmarks.routing import RoutingConfig

    base = {"n": 3, "reward": 0.5}
    rows = [{**base, "preset": "cost-first", "policy": "bayes"}, {**base, "preset": "cost-first", "policy": "random"},
            {**base, "preset": "cost-first", "policy": "minilm_router", "seed": 0},
            {**base, "preset": "table1", "policy": "table1:bayes:cost-first"}]
    record = {"config": RoutingConfig(presets=["cost-first"], learner_presets=["cost-first"]).recorded(),
              "git_commit": "abc1234def", "git_dirty": dirty}
    path = tmp_path / "routing.json"
    path.write_text(json.dumps({"record": record, "rows": rows}))
    return path, rows


def test_routing_resume_keeps_recorded_learner_rows_only_under_the_same_config(tmp_path):
    from benchmarks.routing import RoutingConfig, _resumed, _same_world, kept_note

    path, rows = _recorded_routing(tmp_path)
    same = dict(presets=["cost-first"], learner_presets=["cost-first"], resume_from=str(path))
    kept, reference = _resumed(RoutingConfig(**same, learners=["minilm_router", "minilm_lora_router"], workers=1))
    assert kept == [{**rows[2], "commit": "abc1234def"}]  # learner rows only, each naming its own commit
    assert [r["policy"] for r in reference] == ["bayes", "random"]  # recomputed and checked, table1 rerun
    assert "minilm_router at commit abc1234def." in kept_note(kept) and "trained in this run" not in kept_note(kept)
    assert "trained in this run" in kept_note(kept + [{**rows[2], "seed": 1}])
    for other in (dict(steps=3000), dict(seeds=[0, 1]), dict(max_turns=3), dict(presets=["cost-first", "speed-first"])):
        with pytest.raises(ValueError, match=f"differs in \\['{next(iter(other))}'\\]"):
            _resumed(RoutingConfig(**{**same, **other}))
    # the Bayes router's fit is no part of what the learners saw: it may differ, its row is recomputed
    assert _resumed(RoutingConfig(**same, fit_tasks=30, fit_cost_tasks=7))[0] == kept
    with pytest.raises(ValueError, match="clean commit"):
        _resumed(RoutingConfig(**{**same, "resume_from": str(_recorded_routing(tmp_path, dirty=True)[0])}))
    _same_world("cost-first", reference, reference)  # identical recomputed rows pass
    with pytest.raises(ValueError, match="\\['random'\\] differ"):
        _same_world("cost-first", [reference[0], {**reference[1], "reward": 0.25}], reference)
    _same_world("cost-first", [{**reference[0], "reward": 0.25}, reference[1]], reference)  # a refitted Bayes row
    assert _resumed(RoutingConfig())[0] == []


def test_routing_resume_trains_again_rows_of_other_router_overrides(tmp_path, monkeypatch):
    from benchmarks import routing
    from benchmarks.routing import RoutingConfig, _finished, _resumed

    path, rows = _recorded_routing(tmp_path)  # its minilm_router row records no overrides
    same = dict(presets=["cost-first"], learner_presets=["cost-first"], resume_from=str(path))
    monkeypatch.setattr(routing, "TUNED", {"cost-first": {"entropy_coef": 0.1}})
    kept, _ = _resumed(RoutingConfig(**same))  # the overrides may differ from the recorded config's...
    assert kept and _finished(kept, RoutingConfig(**same)) == set()  # ...but its row is trained again
    assert _finished(kept, RoutingConfig(**same, tuned=False)) == {("minilm_router", "cost-first", 0)}
    tuned = [{**kept[0], "router_overrides": {"entropy_coef": 0.1}}]
    assert _finished(tuned, RoutingConfig(**same)) == {("minilm_router", "cost-first", 0)}
    assert RoutingConfig(**same).recorded()["router_overrides"] == {"cost-first": {"entropy_coef": 0.1}}
    assert routing.router_overrides("sb3_ppo", "cost-first", RoutingConfig()) == {}


def test_tuned_overrides_are_router_fields_and_validation_variants():
    """``TUNED`` is what the routing table's GRPO rows train under: each key must be a real
    ``RouterConfig`` field (a typo would be silently ignored by nothing but this test), each
    preset a known one, and each override set one of ``routing_validation``'s variants at the
    main table's 1000 steps, so the choice traces to a recorded validation run."""
    from dataclasses import fields

    from agents.routers import RouterConfig
    from benchmarks.routing import PRESETS, TUNED
    from benchmarks.routing_validation import VARIANTS

    names = {f.name for f in fields(RouterConfig)}
    candidates = [overrides for learner, steps, overrides in VARIANTS.values()
                  if learner == "minilm_router" and steps == 1000]
    assert TUNED and set(TUNED) <= set(PRESETS)
    for preset, overrides in TUNED.items():
        assert set(overrides) <= names, (preset, set(overrides) - names)
        assert overrides in candidates, (preset, overrides)


def test_routing_goals_have_one_line_per_grpo_router():
    from benchmarks.routing import goals

    ep = [0.0, 1.0, 1.0, 0.0]
    rows = [{"preset": "cost-first", "policy": "bayes", "reward": 0.5, "episode_rewards": ep},
            {"preset": "cost-first", "policy": "random", "reward": 0.0}]
    rows += [{"preset": "cost-first", "policy": name, "seed": s, "reward": 0.5, "episode_rewards": ep}
             for name in ("minilm_lora_router", "minilm_router") for s in (0, 1)]
    lines = [line for line in goals(rows) if line.startswith("| cost-first")]
    assert [line.split(" | ")[1] for line in lines] == ["minilm_router", "minilm_lora_router"]
    assert all(line.endswith("| yes | n/a |") for line in lines)  # at Bayes (normalised 1); no PPO rows


def test_tau2_baselines_are_recorded_and_the_gold_solution_wins(tmp_path):
    from benchmarks import tau2_baselines

    out = tmp_path / "t2"
    rows = tau2_baselines.main(["--domains", "mock", "airline", "--random-episodes", "1", "--out", str(out)])
    result = read_result(out)
    assert result["rows"] == json.loads(json.dumps(rows)) and result["record"]["benchmark"] == "tau2_baselines"
    assert result["record"]["config"] == {"domains": ["mock", "airline"], "random_episodes": 1, "seed": 0}
    assert "gymnasium" in result["record"]["installed"]
    for r in rows:  # the scripted gold solution beats doing nothing and random tool calls
        assert r["gold"] > r["do_nothing"] and r["gold"] > r["random_tool"], r
    md = out.with_suffix(".md").read_text()
    assert md.startswith("| domain |") and f"`results/{out.name}.json`" in md and "seed 0" in md


def test_domain_throughput_is_recorded_without_unmeasured_references(tmp_path):
    from benchmarks import domain_throughput

    out = tmp_path / "dt"
    rows = domain_throughput.main(["--only", "tau2 mock", "--episodes", "3", "--steps", "2", "--out", str(out)])
    assert [r["domain"] for r in rows] == ["tau2 mock (solo)", "tau2 mock"]
    assert all(r["status"] == "ok" and r["reset_ms"] > 0 and r["step_ms"] > 0 for r in rows)
    assert read_result(out)["record"]["config"]["episodes"] == 3
    assert "NOT measured" not in out.with_suffix(".md").read_text()  # no --tau2-python: no reference row


def test_every_benchmark_writes_through_run_recorded():
    """The scripts the docs cite all go through the one recorded path (no print-only script)."""
    from orchestra.bench import BENCHMARKS

    from benchmarks import common

    # common.record_and_print is the shared recorded main of many benchmarks: it must call run_recorded
    tail = (ROOT / "benchmarks" / "common.py").read_text().split("def record_and_print", 1)[1]
    assert "run_recorded(" in tail.split("\ndef ", 1)[0]
    assert callable(common.record_and_print)
    for name, bench in BENCHMARKS.items():
        source = (ROOT / (bench.module.replace(".", "/") + ".py")).read_text()
        assert "run_recorded(" in source or "record_and_print(" in source, \
            f"{bench.module} does not write a results/ file via run_recorded"


def test_toolscale_baselines_have_n_and_wilson_intervals(tmp_path):
    from benchmarks import toolscale_baselines as tb
    from orchestra_env.envs.toolscale import ToolScaleEnv

    out = tmp_path / "tsb"
    assert tb.main(["--domains", "weather", "bank", "--n", "15", "--out", str(out)]) == 0
    result = read_result(out)
    assert result["record"]["benchmark"] == "toolscale_baselines" and result["record"]["config"]["n"] == 15
    for r in result["rows"]:  # gold replays verify by construction; every kept task writes or tells
        assert r["n"] == 15 and r["gold"] == 1.0 and r["do_nothing"] == 0.0, r
        assert 0.0 < r["gold_lo"] < 1.0 == r["gold_hi"] and r["do_nothing_lo"] == 0.0 < r["do_nothing_hi"]
        assert r["random_tool_lo"] <= r["random_tool"] <= r["random_tool_hi"] < r["gold_lo"] + 0.5
    md = out.with_suffix(".md").read_text()
    assert md.startswith("| domain | tables | collections | tools | n |") and f"`results/{out.name}.json`" in md
    # the random agent calls derived tools only, with argument values taken from the gold calls or enums
    env = ToolScaleEnv("bank", split="test", num_tasks=5)
    env.reset(seed=0, options={"task_index": 0})
    pool = tb.argument_pool(list(env.tasks))
    import random
    for step in tb.random_steps(env, random.Random(0), pool, 20):
        assert step["tool"] in env.unwrapped.tools and step["tool"] not in tb.NOT_DRAWN
        params = env.unwrapped.tools[step["tool"]].schema()["function"]["parameters"]["properties"]
        assert all(v in pool.get(k, []) or v in params[k].get("enum", []) for k, v in step["arguments"].items())


def test_fault_timings_count_requests_and_bill_what_the_server_billed():
    from benchmarks import fault_timings as ft

    by_name = {c.fault: c for c in ft.CASES}
    served = ft.one_run(by_name["429 (Retry-After 0.1 s), 429, then 200"])
    assert served["outcome"] == "ok" and served["requests"] == 3
    assert (served["tokens_in"], served["tokens_out"]) == (123, 45) and served["billed_latency_s"] >= 0.1
    refused = ft.one_run(by_name["nobody listening (connection refused)"])
    assert refused["outcome"].startswith("gave up after 3 attempt(s)") and "127.0.0.1" not in refused["outcome"]
    md = ft.markdown([{"fault": "f", "settings": "", **served}])
    assert md.startswith("| fault | settings | outcome | requests |") and "| `ok` | 3 |" in md


def test_synthesis_demo_and_describe_models_write_the_tables_the_docs_include(tmp_path):
    from benchmarks import describe_models, synthesis_demo

    assert synthesis_demo.main(["--out", str(tmp_path / "sd")]) == 0
    md = (tmp_path / "sd.md").read_text()
    assert md.startswith("| stage | attempts | error fed back |") and "| kept | 5 |" in md
    assert md.count("| 1.0 | 0.0 |") == 5 and "`results/sd.json`" in md  # every kept task: gold 1, do-nothing 0
    assert describe_models.main(["--n", "10", "--out", str(tmp_path / "dm")]) == 0
    md = (tmp_path / "dm.md").read_text()
    rows = read_result(tmp_path / "dm")["rows"]
    assert md.startswith("| model | frames n | frames acc [95% CI] |") and f"| {rows[0]['model']} | 10 |" in md
    assert "description, as the policy reads it" in md


def test_spawn_map_keeps_the_jobs_order():
    from benchmarks.common import spawn_map

    assert list(spawn_map(abs, [-3, 1, -2], 2)) == [3, 1, 2]
