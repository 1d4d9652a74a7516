"""Side-by-side parity of our tau2 worlds with tau2-bench itself, on the same tool-call sequences.

    python -m benchmarks.tau2_parity --tau2-python /tmp/tau2venv/bin/python --tau2-src /tmp/tau2src/src

For every task of every domain, a few tool-call sequences (seeded): the gold actions; gold with
one call dropped; gold with one argument perturbed (an int sent as a float or a string, a string
sent as a list or a number, an argument left out, an extra one, an unknown tool name); random
calls with argument values drawn from the domain's gold actions. Each sequence runs through

* tau2-bench (its ``Environment.get_response`` call by call, then its ``EnvironmentEvaluator``
  and ``ActionEvaluator`` on the trajectory), in a subprocess under ``--tau2-python`` (tau2 is
  never imported here; the subprocess gets a data folder made from our shipped copies of its
  files, the airline database dumped from ours), and
* our :class:`~orchestra_env.domains.tau2.environment.Tau2Environment` and ``evaluate``, in
  ``tau2_exact`` mode and in validated mode.

A sequence *agrees* on outputs when every call's text and error flag are equal, on the DB when
``db_match`` (against the gold world) is equal, on the reward when DB, ENV_ASSERTION and ACTION
agree (COMMUNICATE and NL assertions need messages, which these sequences do not have), and on
the final database text when ``json.dumps(model_dump(), sort_keys=True)`` of both is equal.
Rows: one per (domain, mode); ``results/tau2_parity.{csv,json}``, with the differences listed.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import inspect
import json
import os
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from benchmarks.common import BenchConfig, RunRecord, markdown_table, provenance, run_recorded
from orchestra_env.domains.conversation import Conversation
from orchestra_env.domains.tau2 import get_domain
from orchestra_env.domains.tau2.domain import DATA_DIR
from orchestra_env.domains.tau2.environment import Tau2Environment
from orchestra_env.domains.tau2.evaluation import evaluate
from orchestra_env.domains.tau2.tasks import Tau2Task, load_tasks
from orchestra_env.envs.tau2 import solo_compatible
from orchestra_env.transcript import ToolCallTurn, ToolResultTurn

PERTURBATIONS = ("int_as_float", "int_as_str", "str_as_list", "str_as_int", "drop_arg", "extra_arg", "unknown_tool")


@dataclass
class ParityConfig(BenchConfig):
    domains: list[str] = field(default_factory=lambda: ["airline", "retail", "mock", "telecom"])
    perturbed_per_task: int = 2
    tasks_per_domain: int = 0  # the first N tasks of each domain's task file; 0 = all
    random_calls: int = 5
    tau2_python: str = ""
    tau2_src: str = ""
    out: str = "results/tau2_parity"


# ---------------------------------------------------------------------------- sequences
def _call(name: str, arguments: dict[str, Any], requestor: str) -> dict[str, Any]:
    return {"name": name, "arguments": arguments, "requestor": requestor}


def _perturb(call: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """``call`` with one perturbation of ``kind``, or None where it does not apply."""
    c = copy.deepcopy(call)
    args = c["arguments"]
    pick = lambda pred: next((k for k, v in args.items() if pred(v)), None)  # noqa: E731
    if kind == "unknown_tool":
        c["name"] += "_v2"
    elif kind == "extra_arg":
        args["note"] = "x"
    elif kind == "drop_arg":
        if not args:
            return None
        args.pop(next(iter(args)))
    else:
        rule = {
            "int_as_float": (lambda v: isinstance(v, int) and not isinstance(v, bool), float),
            "int_as_str": (lambda v: isinstance(v, int) and not isinstance(v, bool), str),
            "str_as_list": (lambda v: isinstance(v, str), lambda v: [v]),
            "str_as_int": (lambda v: isinstance(v, str), lambda v: 12345),
        }[kind]
        key = pick(rule[0])
        if key is None:
            return None
        args[key] = rule[1](args[key])
    return c


def sequences(domain: str, task: Tau2Task, values: dict[str, list[Any]], rng: random.Random,
              cfg: ParityConfig, solo: bool) -> list[tuple[str, list[dict[str, Any]]]]:
    """(kind, calls) for one task: gold, gold minus a call, perturbed gold, random calls."""
    requestor = (lambda a: "assistant") if solo else (lambda a: a.requestor)
    gold = [_call(a.name, dict(a.arguments), requestor(a)) for a in task.gold_actions]
    out = [("gold", gold)]
    if gold:
        drop = rng.randrange(len(gold))
        out.append(("gold_dropped", gold[:drop] + gold[drop + 1:]))
        for _ in range(cfg.perturbed_per_task):
            for _attempt in range(10):
                i, kind = rng.randrange(len(gold)), rng.choice(PERTURBATIONS)
                changed = _perturb(gold[i], kind)
                if changed is not None:
                    out.append((f"perturbed:{kind}", gold[:i] + [changed] + gold[i + 1:]))
                    break
    d = get_domain(domain)
    methods = dict(d.tools_cls.tool_methods())
    if solo and d.user_tools_cls is not None:
        methods.update(d.user_tools_cls.tool_methods())
    names = sorted(methods)
    calls = []
    for _ in range(cfg.random_calls):
        name = rng.choice(names)
        params = list(inspect.signature(methods[name]).parameters)[1:]
        calls.append(_call(name, {p: copy.deepcopy(rng.choice(values.get(p, ["x"]))) for p in params}, "assistant"))
    out.append(("random", calls))
    return out


def all_cases(cfg: ParityConfig) -> list[dict[str, Any]]:
    cases = []
    for domain in cfg.domains:
        rng = random.Random(f"{cfg.seed}:{domain}")  # a domain's cases do not depend on the others run
        d = get_domain(domain)
        tasks = list(_tasks(domain).values())
        if cfg.tasks_per_domain:
            tasks = tasks[:cfg.tasks_per_domain]
        values: dict[str, list[Any]] = {}
        for t in tasks:
            for a in t.gold_actions:
                for k, v in a.arguments.items():
                    values.setdefault(k, []).append(v)
        modes = [False] + ([True] if d.supports_solo else [])
        for solo in modes:
            for t in tasks:
                if solo and not solo_compatible(t):
                    continue
                for kind, calls in sequences(domain, t, values, rng, cfg, solo):
                    cases.append({"domain": domain, "task_id": t.id, "solo": solo, "kind": kind, "calls": calls})
    return cases


# ---------------------------------------------------------------------------- our side
def db_text_hash(db: Any) -> str | None:
    if db is None:
        return None
    return hashlib.sha256(json.dumps(db.model_dump(mode="python", warnings=False), sort_keys=True,
                                     default=str).encode()).hexdigest()


@lru_cache(maxsize=None)
def _tasks(name: str) -> dict[str, Tau2Task]:
    d = get_domain(name)
    return {t.id: t for t in load_tasks(d.tasks_path, "all", d.split_path)}


def run_ours(case: dict[str, Any], exact: bool) -> dict[str, Any]:
    domain = get_domain(case["domain"])
    task = _tasks(case["domain"])[case["task_id"]]
    world = Tau2Environment(domain, solo=case["solo"], exact=exact)
    world.apply_initial_state(task.initial_state)
    conversation = Conversation.from_history(task.initial_state.message_history if task.initial_state else None)
    outputs = []
    for c in case["calls"]:
        conversation.add(ToolCallTurn(c["name"], dict(c["arguments"]), requestor=c["requestor"]))
        text, failed = world.call(c["name"], c["arguments"], c["requestor"])
        conversation.add(ToolResultTurn(c["name"], text, requestor=c["requestor"], error=text if failed else None))
        outputs.append([text, failed])
    info = evaluate(domain, task, world, conversation)
    env_reward = 1.0
    for a in info.env_assertions:
        env_reward *= float(a["met"])
    return {
        "outputs": outputs,
        "db_match": info.db_match,
        "env_reward": env_reward,
        "action_reward": float(all(c["met"] for c in info.action_checks)),
        "db_hash": db_text_hash(world.tools.db),
        "user_db_hash": db_text_hash(world.user_tools.db if world.user_tools is not None else None),
    }


# ---------------------------------------------------------------------------- tau2's side
TAU2_RUNNER = r'''
import hashlib, json, sys, importlib
from tau2.data_model.message import AssistantMessage, ToolCall, UserMessage
from tau2.data_model.tasks import Task
from tau2.evaluator.evaluator_action import ActionEvaluator
from tau2.evaluator.evaluator_env import EnvironmentEvaluator

cases = json.load(open(sys.argv[1]))
tasks_files = json.load(open(sys.argv[2]))
pristine, tasks = {}, {}

def constructor(domain):
    mod = importlib.import_module(f"tau2.domains.{domain}.environment")
    if domain not in pristine:
        env = mod.get_environment()
        # dumped once, validated per environment: a fresh copy, 3x faster than a deep copy or pickle
        pristine[domain] = ((type(env.tools.db), env.tools.db.model_dump_json()),
                            (type(env.user_tools.db), env.user_tools.db.model_dump_json())
                            if env.user_tools is not None else None)
        tasks[domain] = {t["id"]: Task.model_validate(t) for t in json.load(open(tasks_files[domain]))}
    db, user_db = pristine[domain]
    def make(solo_mode=False, **kw):
        kwargs = {"db": db[0].model_validate_json(db[1]), "solo_mode": solo_mode}
        if user_db is not None:
            kwargs["user_db"] = user_db[0].model_validate_json(user_db[1])
        return mod.get_environment(**kwargs)
    return make

out = []
for n, case in enumerate(cases):
    if n % 50 == 0:
        print(f"tau2: {n}/{len(cases)}", file=sys.stderr, flush=True)
    make = constructor(case["domain"])
    task = tasks[case["domain"]][case["task_id"]]
    state = task.initial_state
    history = list(state.message_history or []) if state else []
    row = {}
    try:
        env = make(solo_mode=case["solo"])
        env.set_state(state.initialization_data if state else None,
                      state.initialization_actions if state else None, history)
        trajectory, outputs = list(history), []
        for i, c in enumerate(case["calls"]):
            tc = ToolCall(id=f"call_{i}", name=c["name"], arguments=c["arguments"], requestor=c["requestor"])
            message = (AssistantMessage(role="assistant", tool_calls=[tc]) if c["requestor"] == "assistant"
                       else UserMessage(role="user", tool_calls=[tc]))
            response = env.get_response(tc)
            trajectory += [message, response]
            outputs.append([response.content, response.error])
        row["outputs"] = outputs
        dump = lambda db: None if db is None else hashlib.sha256(json.dumps(db.model_dump(), sort_keys=True, default=str).encode()).hexdigest()
        row["db_hash"] = dump(env.tools.db)
        row["user_db_hash"] = dump(env.user_tools.db if env.user_tools is not None else None)
        env_info = EnvironmentEvaluator.calculate_reward(make, task, trajectory, solo_mode=case["solo"])
        row["db_match"] = env_info.db_check.db_match if env_info.db_check is not None else None
        row["env_reward"] = (1.0 if not env_info.env_assertions else
                             float(all(a.met for a in env_info.env_assertions)))
        row["action_reward"] = ActionEvaluator.calculate_reward(task, trajectory).reward
    except Exception as exc:
        row["raised"] = f"{type(exc).__name__}: {exc}"[:500]
    out.append(row)
json.dump(out, sys.stdout)
'''


def tau2_data_dir(root: Path, domains: list[str]) -> Path:
    """tau2's data layout (``<root>/tau2/domains/<domain>/``) from our shipped copies."""
    for domain in domains:
        target = root / "tau2" / "domains" / domain
        shutil.copytree(DATA_DIR / domain, target)
        if domain == "airline":  # shipped as tau-bench's three files; tau2 reads one db.json
            (target / "db.json").write_text(json.dumps(get_domain("airline").load_db().model_dump(mode="json")))
    return root


def run_tau2(cfg: ParityConfig, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = tau2_data_dir(Path(tmp) / "data", cfg.domains)
        (Path(tmp) / "cases.json").write_text(json.dumps(cases))
        tasks_files = {d: str(root / "tau2" / "domains" / d / get_domain(d).tasks_path.name) for d in cfg.domains}
        (Path(tmp) / "tasks.json").write_text(json.dumps(tasks_files))
        (Path(tmp) / "runner.py").write_text(TAU2_RUNNER)
        env = {**os.environ, "TAU2_DATA_DIR": str(root), "LOGURU_LEVEL": "ERROR", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        if cfg.tau2_src:
            env["PYTHONPATH"] = cfg.tau2_src
        log = Path(tmp) / "runner.log"
        with log.open("w") as err:  # progress lines, and tau2's own log
            done = subprocess.run([cfg.tau2_python, str(Path(tmp) / "runner.py"), str(Path(tmp) / "cases.json"),
                                   str(Path(tmp) / "tasks.json")], stdout=subprocess.PIPE, stderr=err, text=True,
                                  env=env, timeout=3600, cwd=tmp)
        if done.returncode != 0:
            raise RuntimeError(f"tau2 runner failed:\n{log.read_text()[-4000:]}")
        return json.loads(done.stdout)


# ---------------------------------------------------------------------------- comparison
def compare(cfg: ParityConfig) -> list[dict[str, Any]]:
    cases = all_cases(cfg)
    theirs = run_tau2(cfg, cases)
    rows = []
    for exact in (True, False):
        per: dict[str, dict[str, Any]] = {}
        for case, ref in zip(cases, theirs):
            key = case["domain"] + (" (solo)" if case["solo"] else "")
            row = per.setdefault(key, {"domain": key, "mode": "tau2_exact" if exact else "validated",
                                       "sequences": 0, "tau2_raised": 0, "outputs_equal": 0, "db_match_equal": 0,
                                       "reward_equal": 0, "db_text_equal": 0, "differences": []})
            row["sequences"] += 1
            if "raised" in ref:
                row["tau2_raised"] += 1
                row["differences"].append({"task": case["task_id"], "kind": case["kind"], "tau2_raised": ref["raised"]})
                continue
            ours = run_ours(case, exact)
            same_out = ours["outputs"] == ref["outputs"]
            same_db = ours["db_match"] == ref["db_match"]
            same_reward = same_db and all(ours[k] == ref[k] for k in ("env_reward", "action_reward"))
            same_text = (ours["db_hash"], ours["user_db_hash"]) == (ref["db_hash"], ref["user_db_hash"])
            row["outputs_equal"] += same_out
            row["db_match_equal"] += same_db
            row["reward_equal"] += same_reward
            row["db_text_equal"] += same_text
            if not (same_out and same_reward):
                first = next((i for i, (a, b) in enumerate(zip(ours["outputs"], ref["outputs"])) if a != b), None)
                row["differences"].append({
                    "task": case["task_id"], "kind": case["kind"],
                    "call": case["calls"][first] if first is not None else None,
                    "ours": ours["outputs"][first] if first is not None else None,
                    "tau2": ref["outputs"][first] if first is not None else None,
                    "reward_ours": [ours[k] for k in ("db_match", "env_reward", "action_reward")],
                    "reward_tau2": [ref[k] for k in ("db_match", "env_reward", "action_reward")],
                })
        rows.extend(per.values())
    return rows


SUMMARY = ["domain", "mode", "sequences", "tau2_raised", "outputs_equal", "reward_equal", "db_match_equal", "db_text_equal"]


def summary_table(rows: list[dict[str, Any]]) -> str:
    """The docs' table: per (domain, mode), how many sequences agree with tau2 on what."""
    return markdown_table(rows, SUMMARY)


def render(json_path: str) -> Path:
    """Write ``<stem>.md`` again from a finished run's ``<stem>.json`` (no re-run)."""
    data = json.loads(Path(json_path).read_text())
    fields = {k: v for k, v in data["record"].items() if k in RunRecord.__dataclass_fields__}
    record = RunRecord(**fields)
    md = Path(json_path).with_suffix(".md")
    md.write_text(summary_table(data["rows"]) + "\n" + provenance(record, md.stem) + "\n")
    return md


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--render", default=None, help="only rewrite the .md of this results .json")
    parser.add_argument("--tau2-python", default="", help="interpreter of a venv that can import tau2")
    parser.add_argument("--tau2-src", default="", help="tau2-bench's src/ folder, if tau2 is not installed there")
    parser.add_argument("--domains", nargs="+", default=ParityConfig().domains)
    parser.add_argument("--perturbed-per-task", type=int, default=2)
    parser.add_argument("--random-calls", type=int, default=5)
    parser.add_argument("--tasks-per-domain", type=int, default=0, help="first N tasks per domain (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=ParityConfig().out)
    a = parser.parse_args(argv)
    if a.render:
        print("wrote", render(a.render))
        return 0
    if not a.tau2_python:
        parser.error("--tau2-python is required: a venv's interpreter that can import tau2 (see the docstring)")
    cfg = ParityConfig(domains=a.domains, perturbed_per_task=a.perturbed_per_task, random_calls=a.random_calls,
                       tasks_per_domain=a.tasks_per_domain,
                       tau2_python=a.tau2_python, tau2_src=a.tau2_src, seed=a.seed, out=a.out,
                       envs=[], policies=[])
    rows, _, paths = run_recorded("tau2_parity", cfg, compare, markdown=summary_table)
    for r in rows:
        print(f"{r['domain']:16s} {r['mode']:10s} n={r['sequences']:4d} raised={r['tau2_raised']:3d} "
              f"outputs={r['outputs_equal']:4d} db_match={r['db_match_equal']:4d} reward={r['reward_equal']:4d} "
              f"db_text={r['db_text_equal']:4d}")
    print("wrote", *paths)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
