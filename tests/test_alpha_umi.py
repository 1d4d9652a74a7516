"""alpha-UMi: the converter's role split, GLPFT's per-role adapters, and that training helps.

One small GLPFT run (tiny random-weight Qwen3, CPU) is shared by the training tests: ToolScale
bank "delete" tasks (2-3 gold calls, then a goodbye), 16 training trajectories. The learning
rates are the paper's x100 (a random-weight model learns nothing in a few dozen steps at 1e-5).
"""
from __future__ import annotations

import json

import pytest

from agents.multi_agent import data, metrics, roles
from agents.multi_agent.data import Step, Trajectory, split_trajectory
from agents.multi_agent.roles import END, PromptConfig

TOOLS = {"get_card": {"name": "get_card"}, "delete_card": {"name": "delete_card"}}


def known_trajectory() -> Trajectory:
    """A call, a call to a tool that does not exist, a call, then the conclusion."""
    return Trajectory("hand", "t0", "remove card C1", dict(TOOLS), [
        Step("look it up", {"name": "get_card", "arguments": {"card_id": "C1"}}, '{"card_id": "C1"}'),
        Step("try a ghost", {"name": "ghost_tool", "arguments": {}}, "Unknown tool"),
        Step("delete it", {"name": "delete_card", "arguments": {"card_id": "C1"}}, "Deleted card C1."),
        Step("done", conclusion="Card C1 is removed. Goodbye!"),
    ])


# ----------------------------------------------------------------------------- converter


def test_converter_splits_a_known_trajectory_exactly_as_specified() -> None:
    cfg = PromptConfig.tiny()
    out = split_trajectory(known_trajectory(), cfg)
    call = lambda n, a: roles.format_call(n, a)  # noqa: E731
    # planner: every planner turn except the one before the hallucinated call
    assert [e.completion for e in out["planner"]] == [
        "look it up\nNext: caller" + END, "delete it\nNext: caller" + END, "done\nNext: conclusion" + END]
    assert [e.step for e in out["planner"]] == [0, 2, 3]
    # caller: every call turn, prompted with the preceding thought
    assert [e.completion for e in out["caller"]] == [
        call("get_card", {"card_id": "C1"}) + END, call("ghost_tool", {}) + END, call("delete_card", {"card_id": "C1"}) + END]
    assert [e.prompt.endswith(f"thought: {t}\ncaller: ") for e, t in zip(out["caller"], ["look it up", "try a ghost", "delete it"])] == [True] * 3
    # summarizer: the conclusion turn only, after the planner's last thought
    assert [e.completion for e in out["summarizer"]] == ["Card C1 is removed. Goodbye!" + END]
    assert out["summarizer"][0].prompt.endswith("observation: Deleted card C1.\nassistant: done\nconclusion: ")
    # backbone: thought + call merged, and thought + conclusion
    assert [e.completion for e in out["backbone"]] == [
        "look it up\n" + call("get_card", {"card_id": "C1"}) + END,
        "try a ghost\n" + call("ghost_tool", {}) + END,
        "delete it\n" + call("delete_card", {"card_id": "C1"}) + END,
        "done\nconclusion: Card C1 is removed. Goodbye!" + END]
    # the history every prompt shows: role prefixes, in order, each prompt ending with its cue
    last = out["backbone"][-1].prompt
    assert last.splitlines()[0] == "user: remove card C1"
    assert [ln.split(":")[0] for ln in last.splitlines() if not ln.startswith("Action Input")] == (
        ["user"] + ["assistant", "caller", "observation"] * 3 + ["assistant"])
    assert all(e.prompt.endswith(roles.CUES[r] + " ") for r, es in out.items() for e in es)


def test_encode_masks_the_prompt_and_truncates_from_the_left(tiny_tokenizer) -> None:
    ex = data.RoleExample("caller", "old " * 300 + "recent context", "Action: get_card" + END, "t", 0)
    enc = data.encode(ex, tiny_tokenizer, max_length=64)
    assert len(enc["input_ids"]) == 64
    target = tiny_tokenizer(ex.completion, add_special_tokens=False)["input_ids"] + [tiny_tokenizer.eos_token_id]
    n = sum(enc["completion_mask"])
    assert n == len(target) and enc["input_ids"][-n:] == target and enc["completion_mask"][:-n] == [0] * (64 - n)
    assert tiny_tokenizer.decode(enc["input_ids"][:-n]).endswith("recent context")  # newest prompt tokens kept


def test_encode_keeps_a_short_prompt_whole_and_a_fixed_window_whatever_the_target(tiny_tokenizer) -> None:
    short = data.RoleExample("backbone", "user: remove card 6985JD43\nassistant: ", "ok" + END, "t", 0)
    enc = data.encode(short, tiny_tokenizer, max_length=160)  # the prompt fits: none of it is cut
    n_prompt = len(enc["input_ids"]) - sum(enc["completion_mask"])
    assert tiny_tokenizer.decode(enc["input_ids"][:n_prompt]) == short.prompt
    # with prompt_tokens the window a call's target and a conclusion's see is the same, the one
    # Team.generate keeps (without, the longer target would see fewer prompt tokens)
    long_prompt = "old " * 100 + "user: remove card 6985JD43\nassistant: "
    targets = ["Action: get_card\nAction Input: {\"card_id\": \"6985JD43\"}" + END, "done" + END]
    windows = [len(e["input_ids"]) - sum(e["completion_mask"]) for e in
               (data.encode(data.RoleExample("backbone", long_prompt, t, "t", 0), tiny_tokenizer, 160, prompt_tokens=64)
                for t in targets)]
    assert windows == [64, 64]


def test_parsers_follow_the_papers_inference_rules() -> None:
    assert roles.parse_plan("look up\nNext: conclusion").next == "conclusion"
    assert roles.parse_plan("no marker at all").next == "caller"  # no marker: the caller goes next
    assert roles.parse_plan("I give up\nNext: give up").next == "give up"
    call = roles.parse_call('Action: get_card\nAction Input: {"card_id": "C1"}\n<end>')
    assert call.tool == "get_card" and dict(call.arguments) == {"card_id": "C1"}
    assert isinstance(roles.parse_call("Action: get_card\nAction Input: {not json"), roles.ParseError)
    step = roles.parse_backbone("done\nconclusion: Bye!")
    assert step.call is None and step.conclusion == "Bye!"


def test_metrics_follow_the_papers_definitions() -> None:
    assert metrics.argument_f1({"a": 1, "b": 2}, {"a": 1, "b": 2}) == 1.0
    assert metrics.argument_f1({"a": 1, "b": 3}, {"a": 1, "b": 2}) == pytest.approx(0.75)  # wrong value: 0.5
    assert metrics.argument_f1({"a": 1}, {"a": 1, "b": 2}) == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert metrics.argument_f1({}, {"a": 1}) == 0.0 and metrics.argument_f1({}, {}) == 1.0
    assert metrics.rouge_l("the card is removed", "the card is removed") == 1.0
    assert metrics.rouge_l("card removed", "the card is removed") == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert metrics.rouge_l("x y", "a b") == 0.0
    lo, hi = metrics.wilson(5, 10)
    assert 0.23 < lo < 0.24 and 0.76 < hi < 0.77


def test_trajectories_round_trip_through_jsonl(tmp_path) -> None:
    path = tmp_path / "t.jsonl"
    data.save_jsonl([known_trajectory()], str(path))
    back = data.load_jsonl(str(path))
    assert back[0].to_dict() == known_trajectory().to_dict()


# ----------------------------------------------------------------------------- data from the envs


def test_toolscale_gold_trajectories_are_verified_and_end_in_a_conclusion() -> None:
    trajs = data.toolscale_trajectories("bank", 3, intents=["delete"])
    assert len(trajs) == 3
    for t in trajs:
        assert [s.conclusion is not None for s in t.steps] == [False] * (len(t.steps) - 1) + [True]
        assert t.steps[-2].call["name"].startswith("delete_") and "Deleted" in t.steps[-2].observation
        assert all(s.call["name"] in t.tools for s in t.steps[:-1])


def test_tau2_gold_trajectories_replay_with_the_scripted_user() -> None:
    trajs = data.tau2_trajectories("mock", 2)
    assert trajs and all(t.steps[-1].conclusion == data.TAU2_GOODBYE for t in trajs)


# ----------------------------------------------------------------------------- GLPFT on the tiny model

TRAIN_N, TEST_N = 16, 6
LR_SCALE = 400.0  # the paper's lr x400: a random-weight model learns nothing in a few steps at 1e-5
MAX_LENGTH, NEW_TOKENS = 160, 48


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: on a shared 2-core machine, two threads are ~10x slower than one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_tokenizer():
    from agents.multi_agent.glpft import load_base

    return load_base("tiny")[1]


@pytest.fixture(scope="module")
def glpft_run(tmp_path_factory, one_thread):
    """GLPFT in the default memory mode (LoRA adapters), the paper's epochs: ~34 steps."""
    from agents.multi_agent.glpft import GLPFTConfig, run_glpft

    train = data.toolscale_trajectories("bank", TRAIN_N, intents=["delete"])
    config = GLPFTConfig(lr_scale=LR_SCALE, epoch_scale=1.0, max_length=MAX_LENGTH, batch_size=8,
                         lora_r=32, lora_alpha=64, prompt=PromptConfig.tiny(), save_steps=10_000)
    out = tmp_path_factory.mktemp("glpft")
    team, state = run_glpft(train, config, out)
    return {"team": team, "state": state, "out": out, "config": config, "train": train}


def test_each_stage2_run_changes_only_its_own_adapter(glpft_run) -> None:
    import torch

    from agents.multi_agent.glpft import Team

    team, out = glpft_run["team"], glpft_run["out"]
    assert glpft_run["state"]["done"] == ["backbone", "planner", "caller", "summarizer"]
    saved = Team.load(out)  # each stage's adapter as written the moment that stage finished
    final = {role: team.adapter_state(role) for role in ("backbone", "planner", "caller", "summarizer")}
    for role, weights in final.items():
        at_end_of_stage = saved.adapter_state(role)
        # later stages left this adapter as its own stage wrote it ...
        assert weights.keys() == at_end_of_stage.keys() and len(weights) > 0
        assert all(torch.equal(weights[k], at_end_of_stage[k]) for k in weights), f"a later stage changed {role}"
    backbone = final["backbone"]
    for role in ("planner", "caller", "summarizer"):
        # ... and its own stage did change it (it started as a copy of the backbone's)
        changed = [k for k in backbone if not torch.equal(backbone[k], final[role][k])]
        assert len(changed) > len(backbone) // 2, f"{role}'s stage barely moved its adapter"
    # the base stays frozen: the base weights equal a freshly loaded base
    fresh = Team.from_config(glpft_run["config"])
    frozen = lambda m: {k: v for k, v in m.state_dict().items() if "lora_" not in k and "modules_to_save" not in k}  # noqa: E731
    base_now, base_fresh = frozen(team.peft.base_model.model), frozen(fresh.peft.base_model.model)
    assert base_now.keys() == base_fresh.keys() and all(torch.equal(base_now[k], base_fresh[k]) for k in base_fresh)


def test_cli_runs_both_stages_checkpoints_and_resumes(tmp_path, one_thread) -> None:
    from agents.multi_agent.cli import main

    args = ["--algo", "glpft", "--model", "tiny", "--data", "toolscale:bank:2:delete", "--out", str(tmp_path),
            "--tiny-prompts", "--epoch-scale", "0.5", "--batch-size", "8", "--max-length", "128", "--save-steps", "1"]
    assert main(args) == 0
    state_file = tmp_path / "glpft_state.json"
    state = json.loads(state_file.read_text())
    assert state["done"] == ["backbone", "planner", "caller", "summarizer"]
    assert all(state["stages"][s]["steps"] >= 1 for s in state["done"])
    assert all((tmp_path / s / s / "adapter_model.safetensors").is_file() for s in state["done"])
    # the run "stopped" inside the summarizer stage: resume skips the finished stages and
    # continues the summarizer from its last Trainer checkpoint
    state["done"].remove("summarizer")
    state_file.write_text(json.dumps(state))
    assert main(args + ["--resume"]) == 0
    resumed = json.loads(state_file.read_text())
    assert resumed["done"] == ["backbone", "planner", "caller", "summarizer"]
    assert all(resumed["stages"][s] == state["stages"][s] for s in ("backbone", "planner", "caller"))
    assert "checkpoint-" in (resumed["stages"]["summarizer"]["resumed_from"] or "")
    assert main(["--algo", "eval", "--out", str(tmp_path), "--data", "toolscale:bank:1:delete", "--split", "test",
                 "--tiny-prompts", "--max-length", "128", "--max-new-tokens", "4"]) == 0


# ----------------------------------------------------------------------------- does training help?
# The paper's own memory mode (a full copy per role): with LoRA the tiny model's random, frozen
# embeddings stall learning for hundreds of CPU steps, while full copies learn in ~136 steps.
COPIES = dict(mode="copies", lr_scale=60.0, epoch_scale=4.0)


@pytest.fixture(scope="module")
def copies_run(tmp_path_factory, one_thread):
    from agents.multi_agent.glpft import GLPFTConfig, Team, run_glpft

    train = data.toolscale_trajectories("bank", TRAIN_N, intents=["delete"])
    config = GLPFTConfig(max_length=MAX_LENGTH, batch_size=8, prompt=PromptConfig.tiny(), save_steps=10_000, **COPIES)
    team, state = run_glpft(train, config, tmp_path_factory.mktemp("copies"))
    return {"team": team, "base": Team.from_config(config), "train": train, "state": state}


@pytest.fixture(scope="module")
def heldout():
    return data.toolscale_trajectories("bank", TEST_N, split="test", intents=["delete"])


def test_glpft_beats_the_untrained_base_on_held_out_plan_acc_and_action_em(copies_run, heldout) -> None:
    kw = dict(max_new_tokens=NEW_TOKENS, max_length=MAX_LENGTH)
    base = metrics.static_metrics(copies_run["base"], heldout, PromptConfig.tiny(), **kw)
    team = metrics.static_metrics(copies_run["team"], heldout, PromptConfig.tiny(), **kw)
    assert team.n_steps == base.n_steps >= 3 * TEST_N
    # the base never writes a Next marker, so it scores the share of caller turns (~0.7)
    assert team.plan_acc >= base.plan_acc + 0.1, (base, team)
    assert team.action_em >= base.action_em + 0.25, (base, team)
    assert team.rouge_l > base.rouge_l, (base, team)


# ----------------------------------------------------------------------------- end to end
# The simplest gold-like family (data.gold_like: at most two gold calls whose values the request
# states; the bank train split holds ~120 delete tasks of it, all used), observations clipped to
# 40 characters, a fixed 96-token prompt window in training and inference alike (192 tokens hold
# it and the longest ~96-token target), and the constrained call decoder; the env's own reward
# decides, on 32 held-out tasks, and the trained agent's Wilson 95% interval must lie above the
# base's (not one lucky task).
E2E_TRAIN_N, E2E_TASKS, E2E_OBS, E2E_WINDOW, E2E_LENGTH = 150, 32, 40, 96, 192


@pytest.fixture(scope="module")
def e2e_run(tmp_path_factory, one_thread):
    from dataclasses import replace

    from agents.multi_agent.glpft import GLPFTConfig, Team, run_glpft

    prompt = replace(PromptConfig.tiny(), observation_chars=E2E_OBS, prompt_tokens=E2E_WINDOW)
    train = data.toolscale_trajectories("bank", E2E_TRAIN_N, intents=["delete"], keep=data.gold_like)
    config = GLPFTConfig(mode="copies", lr_scale=60.0, max_length=E2E_LENGTH, batch_size=8, prompt=prompt,
                         save_steps=10_000, single=True, single_epochs=3.0)
    single, state = run_glpft(train, config, tmp_path_factory.mktemp("e2e"))
    return {"single": single, "base": Team.from_config(config), "prompt": prompt, "train": train}


@pytest.mark.timeout(2400)  # ~135 training steps and 64 episodes: ~3 minutes idle, far more on a loaded machine
def test_trained_agent_completes_held_out_gold_like_tasks_above_the_untrained_base(e2e_run) -> None:
    from agents.multi_agent.alpha_umi import AlphaUMiAgent
    from orchestra_env.envs.toolscale import ToolScaleEnv

    test = data.toolscale_trajectories("bank", E2E_TASKS, split="test", intents=["delete"], keep=data.gold_like)
    assert not {t.task_id for t in test} & {t.task_id for t in e2e_run["train"]}
    env = ToolScaleEnv("bank", split="test", num_tasks=2000, max_turns=5)
    ids = {t.task_id for t in test}
    indices = [i for i, t in enumerate(env.tasks) if t.task_id in ids]
    assert len(indices) == E2E_TASKS
    runs = {}
    for name in ("base", "single"):
        agent = AlphaUMiAgent(e2e_run[name], e2e_run["prompt"], single=True, max_new_tokens=112,
                              max_length=E2E_LENGTH, constrained=True)
        runs[name] = metrics.end_to_end(agent, env, indices, seed=0)
    rates = {name: (r["success"], r["success_ci95"]) for name, r in runs.items()}
    assert runs["single"]["success_ci95"][0] > runs["base"]["success_ci95"][1], rates
