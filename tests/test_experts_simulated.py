"""The simulated expert pool: deterministic, calibrated to its cards, sensitive to evidence."""
from __future__ import annotations

import contextlib
import io
import math
import re

import numpy as np
import pytest

from orchestra_env.experts.base import Expert, ExpertRequest
from orchestra_env.experts.oracle import bound_task
from orchestra_env.experts.simulated import (
    Calibration,
    SimulatedExpert,
    contains_answer,
    normalize,
    plausible_wrong,
    same_answer,
)
from orchestra_env.tasks import Task

CAL = Calibration.load()
SIM = SimulatedExpert(CAL)
MODELS = sorted(CAL.cards)
BENCHMARKS = ("frames", "hle", "tau2", "toolscale")


def make_tasks(benchmark: str, n: int, seed: int = 0) -> list[Task]:
    """Synthetic tasks whose categories follow the benchmark's calibration mix."""
    rng = np.random.default_rng(seed)
    mix = CAL.category_mix.get(benchmark, {})
    cats, weights = list(mix), np.array(list(mix.values()), dtype=float)
    tasks = []
    for i in range(n):
        categories = (str(rng.choice(cats, p=weights / weights.sum())),) if cats else ()
        answer = str(rng.choice([f"{rng.integers(2, 5000)}", f"Person Number{i}", f"{rng.integers(1, 40)}th"]))
        question = f"Question {i}: which value does Entity Alpha{i} have in {1900 + i % 100}?"
        tasks.append(Task(f"{benchmark}-{i}", benchmark, question, answer, categories))
    return tasks


def with_task(task: Task, fn, *args):
    """Call ``fn`` with ``task`` bound as the env does during a step (requests carry no task)."""
    with bound_task(task):
        return fn(*args)


def ask(model: str, task: Task, role: str = "answer", extra: str = "", seed: int = 0):
    messages = [{"role": "user", "content": task.question}]
    if extra:
        messages.append({"role": "user", "content": extra})
    return with_task(task, SIM.complete, ExpertRequest(model, tuple(messages), role=role, seed=seed))


def accuracy(model: str, tasks: list[Task], extra=lambda t: "") -> float:
    return float(np.mean([same_answer(t.answer, ask(model, t, extra=extra(t)).text) for t in tasks]))


def test_is_an_expert_and_deterministic():
    task = make_tasks("frames", 1)[0]
    assert isinstance(SIM, Expert)
    for role in ("answer", "reasoner", "search", "judge"):
        assert ask("gpt-5", task, role) == ask("gpt-5", task, role)
        assert ask("gpt-5", task, role) == with_task(task, SimulatedExpert().complete,
            ExpertRequest("gpt-5", ({"role": "user", "content": task.question},), role=role)
        )
    latencies = {ask("gpt-5", task, seed=s).latency_s for s in range(20)}
    assert len(latencies) == 20  # the seed matters


def test_aliases_resolve_to_their_model():
    task = make_tasks("hle", 1)[0]
    assert ask("answer-1", task) == ask("gpt-5", task)


def test_unknown_model_says_how_to_fix():
    with pytest.raises(ValueError, match="calibration.yaml"):
        ask("no-such-model", make_tasks("hle", 1)[0])


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_empirical_accuracy_matches_the_card(benchmark: str):
    n = 800
    tasks = make_tasks(benchmark, n, seed=1)
    for model in MODELS:
        p = CAL.cards[model].skill[benchmark]
        tol = 4 * math.sqrt(p * (1 - p) / n) + 0.01
        assert abs(accuracy(model, tasks) - p) < tol, (model, benchmark)


def test_categories_move_accuracy_the_documented_way():
    math_task = Task("m", "hle", "q", "1", ("Math",))
    humanities = Task("h", "hle", "q", "1", ("Humanities/Social Science",))
    p = lambda model, task: CAL.skill(model, task.benchmark, task.categories)  # noqa: E731
    assert p("Qwen2.5-Math-72B", math_task) > p("Qwen2.5-Math-72B", humanities)
    assert p("gpt-5", math_task) < p("gpt-5", humanities)
    assert p("gpt-5", Task("x", "hle", "q", "1")) == CAL.cards["gpt-5"].skill["hle"]


def test_evidence_raises_accuracy_by_the_documented_boost():
    tasks = make_tasks("hle", 600, seed=2)
    p = CAL.cards["Qwen3-8B"].skill["hle"]
    boosted = p + (1 - p) * CAL.evidence_boost
    with_evidence = accuracy("Qwen3-8B", tasks, extra=lambda t: f"Search result: ... {t.answer} ...")
    assert abs(with_evidence - boosted) < 4 * math.sqrt(boosted * (1 - boosted) / 600) + 0.01
    assert with_evidence > accuracy("Qwen3-8B", tasks) + 0.3


def test_gold_answer_inside_the_question_is_not_evidence():
    task = Task("q", "frames", "Is the answer 1847 or 1850?", "1847")
    request = ExpertRequest("Qwen3-8B", ({"role": "user", "content": task.question},))
    assert with_task(task, SIM.p_correct, request) == CAL.skill("Qwen3-8B", "frames")


def test_stronger_models_beat_weaker_ones():
    for benchmark in BENCHMARKS:
        tasks = make_tasks(benchmark, 500, seed=3)
        assert accuracy("gpt-5", tasks) > accuracy("Qwen3-8B", tasks) > accuracy("Qwen2.5-Math-7B", tasks) - 0.05


def test_wrong_answers_are_wrong_plausible_and_deterministic():
    rng = lambda: np.random.default_rng(7)  # noqa: E731
    cases = [
        ("1847", r"\d{4}"),
        ("37th", r"\d+(st|nd|rd|th)"),
        ("506,000", r"[\d,]+"),
        ("Jane Ballou", r"[A-Z].*"),
        ("Season 36, Double Agents", r"\d+"),
        ("Donnie Darko grossed $517,375 in its initial run", r"[\d,]+"),
    ]
    for gold, shape in cases:
        task = Task("t", "frames", "Who met Harriet Lane and James Buchanan in Lancaster?", gold)
        wrong = plausible_wrong(task, rng())
        assert re.fullmatch(shape, wrong), (gold, wrong)
        assert not set(normalize(wrong).split()) & set(normalize(gold).split()), (gold, wrong)  # no F1 credit
        assert plausible_wrong(task, rng()) == wrong
    mc = Task("t", "hle", "Pick one", "C", answer_type="multipleChoice")
    assert plausible_wrong(mc, rng()) in "ABDE"


def test_reasoner_facts_are_evidence_and_its_code_prints_the_claim():
    tasks = make_tasks("frames", 300, seed=4)
    facts = code_blocks = 0
    for task in tasks:
        text = ask("gpt-5", task, role="reasoner").text
        if contains_answer(text, task):
            facts += 1
            request = ExpertRequest("Qwen3-8B", ({"role": "user", "content": task.question}, {"role": "user", "content": text}))
            assert with_task(task, SIM.p_correct, request) > CAL.skill("Qwen3-8B", "frames", task.categories)
        block = re.search(r"```python\n(.*?)```", text, re.S)
        if block:
            code_blocks += 1
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(block.group(1), {})
            assert out.getvalue().strip() in text
    p = CAL.cards["gpt-5"].skill["frames"]
    assert abs(facts / len(tasks) - p) < 0.1
    assert code_blocks > 0


def test_stronger_models_write_better_queries():
    titles = ["Harriet Lane", "James A. Garfield"]
    task = Task("q", "frames", "If my future wife has the first name of the 15th first lady's mother, what is her name?", "Jane Ballou", metadata={"evidence_titles": titles})

    def title_rate(model: str) -> float:
        queries = [ask(model, task, role="search", seed=s).text for s in range(200)]
        return float(np.mean([all(t in q for t in titles) for q in queries]))

    strong, weak = title_rate("gpt-5"), title_rate("Qwen2.5-Math-7B")
    assert strong > 0.8 and weak < 0.2
    q = CAL.cards["gpt-5"].query_skill
    assert abs(strong - q**3) < 0.12  # informative query, then each of two titles


def test_judge_compares_normalised_answers():
    def judge(ref: str, pred: str) -> str:
        msg = {"role": "user", "content": f"Reference: {ref}\nPrediction: {pred}\nIs the prediction correct?"}
        return SIM.complete(ExpertRequest("gpt-5", (msg,), role="judge")).text

    assert judge("506,000", "506000") == "yes"
    assert judge("Jane Ballou", "Her name is Jane Ballou.") == "yes"
    assert judge("37th", "35th") == "no"
    assert judge("France", "Germany") == "no"
    assert judge("C", "The answer is (C).") == "yes" and judge("A", "B") == "no"


def test_without_a_task_the_answer_is_a_hedge():
    request = ExpertRequest("gpt-5", ({"role": "user", "content": "Who won the 1998 World Cup?"},))
    assert SIM.p_correct(request) == 0.0
    assert "cannot" in SIM.complete(request).text
    query = SIM.complete(ExpertRequest("gpt-5", request.messages, role="search")).text
    assert "World Cup" in query


def test_tokens_and_latency_follow_the_card_and_catalogue():
    """Visible tokens (calibration.yaml alone: no fitted hidden tokens) are capped by max_tokens
    and follow the card's verbosity; the fitted hidden tokens come on top."""
    task = make_tasks("frames", 1)[0]
    bare = _with_card("gpt-5", "models")  # calibration.yaml without fitted.yaml

    def ask_with(sim, model, seed, max_tokens=1024):
        request = ExpertRequest(model, ({"role": "user", "content": task.question},), seed=seed, max_tokens=max_tokens)
        return with_task(task, sim.complete, request)

    responses = [ask_with(bare, "gpt-5", s) for s in range(400)]
    assert all(1 <= r.tokens_out <= 1024 for r in responses)
    assert all(r.tokens_in == responses[0].tokens_in > 0 for r in responses)
    mean_latency = np.mean([r.latency_s for r in responses])
    assert abs(mean_latency - 96.0) / 96.0 < 0.08  # catalogue: answer-1 = gpt-5, 96 s
    cheap = [ask_with(bare, "Llama-3.3-70B", s) for s in range(400)]
    assert np.mean([r.tokens_out for r in cheap]) < np.mean([r.tokens_out for r in responses])
    assert ask_with(bare, "gpt-5", 0, max_tokens=5).tokens_out <= 5
    fitted = [ask_with(SIM, "gpt-5", s) for s in range(400)]
    extra = np.mean([r.tokens_out for r in fitted]) - np.mean([r.tokens_out for r in responses])
    assert abs(extra - CAL.card("gpt-5").thinking_tokens) <= 0.1 * CAL.card("gpt-5").thinking_tokens + 50


def test_judge_reads_the_project_judge_prompts():
    from orchestra_env.judges import HLEPrompt, ReferencePrompt

    task = Task("t", "frames", "Who is she?", "Jane Ballou")
    for prompt in (ReferencePrompt(), HLEPrompt()):
        for prediction, expected in (("It is Jane Ballou.\n\nDone.", True), ("Harriet Lane", False)):
            request = ExpertRequest("gpt-5", ({"role": "user", "content": prompt.render(task, prediction)},), role="judge")
            assert prompt.parse(with_task(task, SIM.complete, request).text).correct is expected


# ---------------------------------------------------------------------------- agentic advice
PLAN = [{"tool": "get_user", "arguments": {"user_id": "u1"}}, {"tool": "get_order", "arguments": {"order_id": "o7"}},
        {"tool": "cancel_order", "arguments": {"order_id": "o7", "reason": "no longer needed"}}]


def agentic_task(i: int = 0) -> Task:
    return Task(f"tau2-{i}", "tau2", "Help the user.", "hidden", metadata={"plan": PLAN})


def test_advice_is_one_step_never_the_plan_and_follows_progress():
    task = agentic_task()
    request = ExpertRequest("gpt-5", ({"role": "user", "content": "So far:\n[get_user] {...}"},), role="expert")
    texts = {with_task(task, SIM.complete, ExpertRequest("gpt-5", request.messages, role="expert", seed=s)).text
             for s in range(60)}
    for text in texts:
        assert sum(f'"tool": "{step["tool"]}"' in text for step in PLAN) <= 1
    right = 'Next step: {"tool": "get_order", "arguments": {"order_id": "o7"}}'
    assert right in texts  # after get_user, the next step is get_order
    none_bound = SIM.complete(request)
    assert "Next step" not in none_bound.text  # no task bound: no plan to advise from


def test_advice_degrades_with_the_model_skill():
    def right_rate(model: str) -> float:
        hits = 0
        for s in range(300):
            text = with_task(agentic_task(s), SIM.complete,
                             ExpertRequest(model, ({"role": "user", "content": "So far: nothing"},), role="expert", seed=s)).text
            hits += 'Next step: {"tool": "get_user", "arguments": {"user_id": "u1"}}' in text
        return hits / 300

    strong, weak = right_rate("gpt-5"), right_rate("Qwen2.5-Math-7B")
    assert strong > weak + 0.3
    assert abs(strong - CAL.skill("gpt-5", "tau2")) < 0.1


def test_simulated_orchestrators_prefer_the_published_targets():
    from orchestra_env.experts.simulated_orchestrator import choose_alias, orchestrator_card

    aliases = ["answer-1", "answer-2", "answer-3", "answer-4"]  # gpt-5, gpt-5-mini, Llama-3.3-70B, Qwen3-32B
    rng = np.random.default_rng(0)
    for model, target, share in (("gpt-5", "answer-2", 0.523), ("Qwen3-8B", "answer-1", 0.73),
                                 ("Claude-Opus-4.1", "answer-1", 0.569)):
        card = orchestrator_card(CAL, model)
        picks = [choose_alias(aliases, card, SIM.catalogue, rng) for _ in range(3000)]
        assert abs(picks.count(target) / 3000 - share) < 0.03, model


def test_simulated_orchestrator_emits_parseable_tool_calls_for_the_env():
    import json

    import gymnasium as gym

    import orchestra_env  # noqa: F401
    from orchestra_env.actions import ToolCall, parse_action

    env = gym.make("Orchestra/FRAMES-v0", split="test")
    obs, _ = env.reset(seed=0)
    system = "Tools:\n" + obs["tools"]
    messages = ({"role": "system", "content": system}, {"role": "user", "content": obs["task"]})
    text = SIM.complete(ExpertRequest("gpt-5", messages, role="orchestrator", seed=1)).text
    call = parse_action(text)
    assert isinstance(call, ToolCall) and call.tool in env.unwrapped.tools
    env.unwrapped.tools[call.tool].validate(call.arguments)  # arguments fit the tool's schema
    assert json.loads(text)["tool"] == call.tool


def _with_card(model: str, section: str, **knobs):
    """SIM with one card's knobs overridden (a fitted.yaml-shaped overlay)."""
    import yaml
    from importlib import resources

    from orchestra_env.experts.simulated import deep_merge

    data = yaml.safe_load(resources.files("orchestra_env.experts").joinpath("calibration.yaml").read_text())
    return SimulatedExpert(Calibration.load(deep_merge(data, {section: {model: knobs}})), SIM.catalogue)


def test_thinking_tokens_change_the_bill_not_the_text():
    """Hidden reasoning tokens are billed on top of the visible, max_tokens-capped output; they
    share the call's draw, so a fitted billing knob never changes what happens in an episode."""
    task = make_tasks("frames", 1)[0]
    request = ExpertRequest("Qwen3-8B", ({"role": "user", "content": task.question},), max_tokens=64)
    plain = with_task(task, _with_card("Qwen3-8B", "models", thinking_tokens=0).complete, request)
    thinking = with_task(task, _with_card("Qwen3-8B", "models", thinking_tokens=3000).complete, request)
    assert plain.text == thinking.text and plain.latency_s == thinking.latency_s
    assert plain.tokens_out <= 64 < thinking.tokens_out
    assert 1000 < thinking.tokens_out - plain.tokens_out < 10_000


def test_orchestrator_turn_tokens_and_latency_are_its_card():
    tools = 'Tools:\n{"name": "respond", "parameters": {"properties": {"content": {"type": "string"}}}}'
    messages = ({"role": "system", "content": tools}, {"role": "user", "content": "Who?"})
    request = ExpertRequest("gpt-5", messages, role="orchestrator", max_tokens=64, seed=3)
    slow = _with_card("gpt-5", "orchestrators", turn_tokens=5000, turn_latency_s=500.0).complete(request)
    fast = _with_card("gpt-5", "orchestrators", turn_tokens=0, turn_latency_s=5.0).complete(request)
    assert slow.text == fast.text
    assert slow.tokens_out > fast.tokens_out + 2000
    assert slow.latency_s == pytest.approx(100 * fast.latency_s)


def test_gather_experts_applies_only_when_other_models_are_on_offer():
    from orchestra_env.experts.simulated_orchestrator import OrchestratorCard, _gather_mean

    def tools(*aliases):
        return {"search": {"name": "search", "parameters": {"properties": {"model": {"enum": list(aliases)}}}}}

    card = OrchestratorCard(gather_mean=0.5, gather_experts=3.0)
    assert _gather_mean(tools("search-1"), card, SIM.catalogue) == 0.5  # only gpt-5
    # basic_tools: the model's own aliases, unknown to the simulator's catalogue, one per tool
    assert _gather_mean({**tools("self-search"), "answer": {"name": "answer", "parameters": {
        "properties": {"model": {"enum": ["self-answer"]}}}}}, card, SIM.catalogue) == 0.5
    assert _gather_mean(tools("search-1", "search-3"), card, SIM.catalogue) == 3.0
    assert _gather_mean(tools("search-1", "search-3"), OrchestratorCard(gather_mean=0.5), SIM.catalogue) == 0.5


def test_fit_solver_finds_the_knob_of_affine_ratios():
    from benchmarks.fit_calibration import solve_affine

    assert solve_affine([(0.1, 0.002)], 0.5, 0.0, 1000.0) == pytest.approx(200.0, rel=1e-3)
    # two benchmarks that disagree: the knob sits between their own solutions (log least squares)
    both = solve_affine([(0.1, 0.002), (0.3, 0.002)], 0.5, 0.0, 1000.0)
    assert 100.0 < both < 200.0
    assert solve_affine([(0.9, 0.002)], 0.5, 0.0, 1000.0) == 0.0  # clipped at the range


def test_advice_follows_progress_in_the_context_the_env_renders():
    """The tau2 env shows an expert ``[agent calls name(...)]`` lines (Dialogue.render); a done
    step must count as done there, or the adviser repeats the first step forever."""
    from orchestra_env.experts.simulated import _steps_done

    rendered = 'So far:\n[agent calls get_user({"user_id": "u1"})]\n[tool result] {"name": "Ann"}'
    assert _steps_done(PLAN, rendered) == 1
    assert _steps_done(PLAN, "So far: nothing") == 0
    texts = {with_task(agentic_task(), SIM.complete,
                       ExpertRequest("gpt-5", ({"role": "user", "content": rendered},), role="expert", seed=s)).text
             for s in range(40)}
    assert 'Next step: {"tool": "get_order", "arguments": {"order_id": "o7"}}' in texts


def test_models_outside_table1_bill_like_their_fitted_family():
    """gpt-5-mini has no Table 1 row to fit its hidden tokens to: it bills like gpt-5, not for
    free (a free model would make every cheap route in the routing world look too good)."""
    assert CAL.card("gpt-5-mini").thinking_tokens == CAL.card("gpt-5").thinking_tokens > 0
    data = {"evidence_boost": 0.5, "tokens_out": {}, "tokens_sigma": 0.5, "latency_sigma": 0.3,
            "models": {"a": {"skill": {"frames": 0.5}, "query_skill": 0.5, "thinking_tokens": 7.0},
                       "b": {"skill": {"frames": 0.5}, "query_skill": 0.5, "thinking_like": "a"},
                       "c": {"skill": {"frames": 0.5}, "query_skill": 0.5, "thinking_like": "nope"}}}
    with pytest.raises(ValueError, match="thinking_like"):
        Calibration.load(data)
    del data["models"]["c"]
    assert Calibration.load(data).card("b").thinking_tokens == 7.0


def test_task_set_effort_scales_intermediate_calls_not_the_answer():
    """``models.<M>.benchmarks.<b>`` scales the hidden tokens and latency of the model's advice,
    queries and reasoning on that task set; its final answer (fixed by its no_tools figures)
    and other task sets keep the card's bill."""
    effort = {"benchmarks": {"hle": {"thinking_scale": 0.0, "latency_scale": 0.25}}, "thinking_tokens": 3000}
    scaled = _with_card("Qwen3-8B", "models", **effort)
    plain = _with_card("Qwen3-8B", "models", thinking_tokens=3000)
    for bench, role, changed in (("hle", "reasoner", True), ("hle", "search", True), ("hle", "answer", False),
                                 ("frames", "reasoner", False)):
        task = make_tasks(bench, 1)[0]
        request = ExpertRequest("Qwen3-8B", ({"role": "user", "content": task.question},), role=role,
                                max_tokens=64, seed=2)
        a, b = with_task(task, scaled.complete, request), with_task(task, plain.complete, request)
        assert a.text == b.text
        if changed:
            assert b.tokens_out - a.tokens_out > 1000 and a.latency_s == pytest.approx(0.25 * b.latency_s)
        else:
            assert (a.tokens_out, a.latency_s) == (b.tokens_out, b.latency_s)


def test_task_set_effort_is_inherited_and_checked():
    data = {"evidence_boost": 0.5, "tokens_out": {}, "tokens_sigma": 0.5, "latency_sigma": 0.3,
            "models": {"a": {"skill": {"frames": 0.5}, "query_skill": 0.5, "thinking_tokens": 7.0,
                             "benchmarks": {"tau2-airline": {"thinking_scale": 2.0}}},
                       "b": {"skill": {"frames": 0.5}, "query_skill": 0.5, "thinking_like": "a"}}}
    assert Calibration.load(data).card("b").call_effort("expert", "tau2") == (2.0, 1.0)
    assert Calibration.load(data).card("a").call_effort("answer", "tau2") == (1.0, 1.0)
    data["models"]["a"]["benchmarks"]["hle"] = {"turn_tokens": 5}  # an orchestrator key on a model card
    with pytest.raises(ValueError, match="thinking_scale"):
        Calibration.load(data)
