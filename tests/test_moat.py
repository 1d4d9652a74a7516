"""MOAT (agents/multi_agent/moat*.py): the mechanism, stage isolation, the critic, resume.

One small run (tiny model, 12 training tasks, K = 10) is shared by the module: it is stopped
after iteration 1's planner stage (an interruption), inspected, then resumed.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from unittest import mock

import pytest

pytest.importorskip("trl")
pytest.importorskip("peft")

from agents.multi_agent import moat  # noqa: E402
from agents.multi_agent.moat_critic import EnvCritic, LLMCritic, make_critic  # noqa: E402
from agents.multi_agent.moat_data import (  # noqa: E402
    action_text, gold_history, load_tasks, parse_subgoals, render_subgoals,
)

TRAIN = ("toolscale:bank:train:6", "toolscale:restaurant:train:6")
HELD_OUT = ("toolscale:movie:test:3", "tau2:airline:all:3")


def _digest(folder: Path) -> str:
    return hashlib.sha256((folder / "adapter_model.safetensors").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("moat")
    config = moat.MoatConfig(
        out_dir=str(out), seed=0, iterations=1, k=10, exec_plans=2, train=TRAIN, held_in=(), held_out=HELD_OUT,
        base_epochs=6, base_lr=3e-3, grounding_epochs=2, grounding_lr=3e-3, sft_lr=3e-3, dpo_lr=1e-3, batch_size=2,
        min_gap=0.01)  # the tiny executor's loss moves by ~0.02-0.04 across sampled plans, not 0.1
    logs: list[str] = []
    run = moat.train(config, log=logs.append, evaluate_each=False, stop_after="iter1/planner")
    after_planner = {key: _digest(run.adapter(i, role)) for key, i, role in
                     (("p0", 0, "planner"), ("e0", 0, "executor"), ("p1", 1, "planner"))}
    interrupted = dict(done=list(run.state["done"]), executor1_exists=run.adapter(1, "executor").exists())

    calls = {"planner": 0, "executor": 0}
    real_executor = moat.executor_stage

    def no_planner(*args, **kwargs):
        calls["planner"] += 1
        raise AssertionError("a finished stage ran again on resume")

    def counted_executor(*args, **kwargs):
        calls["executor"] += 1
        return real_executor(*args, **kwargs)

    resumed_logs: list[str] = []
    with mock.patch.object(moat, "planner_stage", no_planner), mock.patch.object(moat, "grounding_stage", no_planner), \
            mock.patch.object(moat, "base_stage", no_planner), mock.patch.object(moat, "executor_stage", counted_executor):
        run = moat.train(config, log=resumed_logs.append, evaluate_each=False)
    after_executor = {key: _digest(run.adapter(i, role)) for key, i, role in
                      (("p0", 0, "planner"), ("e0", 0, "executor"), ("p1", 1, "planner"), ("e1", 1, "executor"))}
    return dict(run=run, config=config, after_planner=after_planner, after_executor=after_executor,
                interrupted=interrupted, calls=calls, resumed_logs=resumed_logs)


def test_planner_dpo_lowers_executor_gold_loss_on_held_out_tasks(small_run):
    """The paper's mechanism: after DPO on the executor's losses, the planner's subgoals make
    the (unchanged) executor find the gold actions of *unseen* tasks more likely."""
    run = small_run["run"]
    held_out = load_tasks(HELD_OUT)
    assert {t.source.kind for t in held_out} == {"toolscale", "tau2"} and len(held_out) == 6
    assert not {t.task_id for t in held_out} & {t.task_id for t in load_tasks(TRAIN)}
    before = moat.Roles(run.rc, {"planner": run.adapter(0, "planner"), "executor": run.adapter(0, "executor")})
    after = moat.Roles(run.rc, {"planner": run.adapter(1, "planner"), "executor": run.adapter(0, "executor")})
    loss_before = moat.expected_gold_loss(before, held_out, samples=6, seed=7)
    loss_after = moat.expected_gold_loss(after, held_out, samples=6, seed=7)
    stats = run.state["stats"]["iter1/planner"]
    assert stats["pairs"] >= 1 and stats["mean_gap"] >= 0.01, stats
    assert loss_after < loss_before, (loss_before, loss_after, stats)


def test_each_stage_changes_only_its_own_adapter(small_run):
    p, e = small_run["after_planner"], small_run["after_executor"]
    assert p["p1"] != p["p0"]  # the planner stage trained the planner
    assert not small_run["interrupted"]["executor1_exists"]  # ... and wrote no executor
    assert e["p0"] == p["p0"] and e["e0"] == p["e0"]  # earlier checkpoints are never rewritten
    assert e["p1"] == p["p1"]  # the executor stage left the planner alone
    assert e["e1"] != e["e0"]  # ... and trained the executor


def test_resume_continues_where_the_interrupted_iteration_stopped(small_run):
    assert small_run["interrupted"]["done"] == ["base", "iter0", "iter1/planner"]
    assert small_run["calls"] == {"planner": 0, "executor": 1}
    assert small_run["run"].state["done"] == ["base", "iter0", "iter1/planner", "iter1/executor"]
    assert sum("skipped" in line for line in small_run["resumed_logs"]) == 3
    state = json.loads((Path(small_run["config"].out_dir) / "state.json").read_text())
    executor = state["stats"]["iter1/executor"]
    assert executor["samples"] == executor["accepted"] + executor["corrected"] + 12  # + the grounding data


def test_env_critic_accepts_gold_and_rejects_a_perturbed_sequence():
    task = next(t for t in load_tasks(["toolscale:bank:train:6"])
                if any(a["name"].startswith(("update_", "delete_", "create_", "cancel_")) for a in t.gold_actions))
    critic = EnvCritic()
    good = critic.judge(task, task.gold_subgoals, task.gold_actions)
    assert good.accepted and good.reward == 1.0
    assert [a for a, _ in good.history] == [action_text(a) for a in task.gold_actions]
    perturbed = [dict(a, arguments=dict(a["arguments"])) for a in task.gold_actions]
    write = next(a for a in perturbed if a["name"].startswith(("update_", "delete_", "create_", "cancel_")))
    key = next(iter(write["arguments"]))
    write["arguments"][key] = str(write["arguments"][key]) + "X"
    bad = critic.judge(task, ["my own plan"], perturbed)
    assert not bad.accepted and bad.reward == 0.0
    assert bad.history == gold_history(task) and bad.subgoals == ["my own plan"]
    assert EnvCritic(keep_subgoals=False).judge(task, ["x"], perturbed[:1]).subgoals == task.gold_subgoals
    # plain text the executor wrote is a normal env action too (a message to the user)
    assert not critic.judge(task, ["x"], ["Goodbye!"]).accepted


class _Expert:
    def __init__(self, text):
        self.text, self.prompts = text, []

    def complete(self, request):
        from orchestra_env.experts.base import ExpertResponse

        self.prompts.append(request.prompt_text)
        return ExpertResponse(self.text, 10, 10, 0.0)


def test_llm_critic_follows_the_accept_correct_protocol():
    task = load_tasks(["toolscale:bank:train:2"])[0]
    accept = LLMCritic(_Expert("ACCEPT"), "critic-model").judge(task, ["a"], task.gold_actions)
    assert accept.accepted and len(accept.history) == len(task.gold_actions)
    fix = json.dumps({"subgoals": task.gold_subgoals, "actions": task.gold_actions})
    expert = _Expert(f"CORRECT\n{fix}")
    corrected = LLMCritic(expert, "critic-model").judge(task, ["a"], ["hello"])
    assert not corrected.accepted and corrected.subgoals == task.gold_subgoals
    assert [a for a, _ in corrected.history] == [action_text(a) for a in task.gold_actions]
    assert task.request in expert.prompts[0]
    assert LLMCritic(_Expert("no idea"), "m").judge(task, ["a"], ["hello"]).history is None
    with pytest.raises(ValueError, match="critic_model"):
        make_critic("llm")


def test_pairs_keep_lowest_vs_highest_loss_and_drop_small_gaps():
    class _Tok:
        eos_token = "<|im_end|>"

        def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
            return "".join(m["content"] for m in messages) + ("<gen>" if add_generation_prompt else "")

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [ord(c) for c in text]}

        def decode(self, ids):
            return "".join(map(chr, ids))

    roles = mock.Mock(tokenizer=_Tok())
    tasks = load_tasks(["toolscale:bank:train:2"])
    pairs = moat.dpo_pairs(roles, tasks, [["a", "b", "c"], ["x", "y"]], [[2.0, 1.5, 2.4], [1.0, 1.05]], 0.1)
    assert len(pairs) == 1
    assert pairs[0]["chosen"] == "b<|im_end|>" and pairs[0]["rejected"] == "c<|im_end|>"
    assert pairs[0]["gap"] == pytest.approx(0.9)


def test_batched_scoring_equals_one_by_one(small_run):
    run = small_run["run"]
    roles = moat.Roles(run.rc, {"executor": run.adapter(0, "executor")})
    task = load_tasks(["toolscale:bank:train:2"])[0]
    seqs = [moat.executor_sequence(roles.tokenizer, task, s, gold_history(task))
            for s in (task.gold_subgoals, ["short"], parse_subgoals(render_subgoals(["a", "b", "c"])))]
    batched = roles.mean_nll("executor", seqs, batch_size=3)
    single = [roles.mean_nll("executor", [s], batch_size=1)[0] for s in seqs]
    assert batched == pytest.approx(single, rel=1e-4)
    assert len(set(round(x, 4) for x in batched)) == 3  # the subgoals do change the loss


def test_bad_config_fails_early_with_the_fix():
    with pytest.raises(ValueError, match="k must be >= 2"):
        moat.MoatConfig(k=1)
    with pytest.raises(ValueError, match="critic_model"):
        moat.MoatConfig(critic="llm")


def test_step_success_counts_gold_calls_at_their_position():
    from agents.multi_agent.moat_rollout import step_success

    task = next(t for t in load_tasks(["toolscale:bank:train:6"]) if len(t.gold_actions) >= 3)
    gold = [action_text(a) for a in task.gold_actions]
    assert step_success(task, gold) == 1.0
    n_calls = sum(a["name"] != "respond" for a in task.gold_actions)
    assert step_success(task, gold[1:]) < 1.0  # shifted by one: positions no longer match
    assert step_success(task, ["Goodbye!"] * len(gold)) == 0.0  # messages earn no step credit
    assert step_success(task, gold[:1]) == pytest.approx(1 / n_calls)


def test_resuming_with_other_settings_fails_with_the_fix(small_run):
    other = moat.MoatConfig(**{**small_run["config"].__dict__, "k": 3})
    with pytest.raises(ValueError, match="same settings or pass a new --out-dir"):
        moat.Run(other)
    moat.Run(moat.MoatConfig(**{**small_run["config"].__dict__, "iterations": 2}))  # more iterations: fine


def test_the_constrained_executor_sends_only_env_tools_with_their_own_keys(small_run):
    """Evaluation decodes the executor through alpha-UMi's constrained call decoder: every
    action is a Hermes call of one of the env's tools, with keys among that tool's parameters
    and string ids copied from the prompt (free decoding of the same executor gives no such
    guarantee)."""
    from agents.multi_agent.decoding import tool_parameters
    from agents.multi_agent.moat_data import make_env, parse_action_text
    from agents.multi_agent.moat_rollout import run_episodes
    from agents.multi_agent.roles import ToolDocs

    run = small_run["run"]
    roles = moat.Roles(run.rc, {"executor": run.adapter(0, "executor")})
    tasks = load_tasks(("toolscale:bank:test:2",))
    plans = [["look up the record", "finish"] for _ in tasks]
    outcomes = run_episodes(roles, tasks, plans, constrained=True, max_steps=3)
    params = tool_parameters(ToolDocs.from_env(make_env(tasks[0].source)).schemas)
    actions = [a for o in outcomes for a in o.actions]
    assert actions
    for task, outcome in zip(tasks, outcomes):
        seen = "\n".join([task.request, *plans[0], *outcome.outputs])
        for action in outcome.actions:
            call = parse_action_text(action)
            assert call is not None and call["name"] in params, action
            assert set(call["arguments"]) <= set(params[call["name"]]), action
            assert all(v in seen for k, v in call["arguments"].items() if isinstance(v, str) and k != "content"), action
