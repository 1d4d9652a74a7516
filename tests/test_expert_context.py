"""benchmarks/expert_context.py: the harness's document context against our evidence default."""
from __future__ import annotations

import pytest

from benchmarks import expert_context as ec


def test_documents_mode_shows_experts_far_more_and_ratios_are_to_the_same_modes_reference():
    rows = ec.run(ec.ExpertContextConfig(n=6, cells=[ec.REFERENCE, "all_tools:Qwen3-8B"], progress=False))
    by = {(r["mode"], r["cell"]): r for r in rows}
    for mode in ec.MODES:
        assert by[(mode, ec.REFERENCE)]["cost_ratio"] == pytest.approx(1.0)
        assert by[(mode, "all_tools:Qwen3-8B")]["expert_calls_per_task"] > 0
    evidence, documents = by[("evidence", ec.REFERENCE)], by[("documents", ec.REFERENCE)]
    # many more tokens per call: a search keeps 150 passages for the experts, the policy still sees 5
    assert documents["expert_tokens_in"] > 5 * evidence["expert_tokens_in"]
    assert documents["cost_usd"] > evidence["cost_usd"]


def test_bad_modes_and_a_missing_reference_are_refused():
    with pytest.raises(ValueError, match="unknown modes/cells"):
        ec.ExpertContextConfig(modes=["everything"])
    with pytest.raises(ValueError, match="reference cell"):
        ec.ExpertContextConfig(cells=["all_tools:GPT-5"])
