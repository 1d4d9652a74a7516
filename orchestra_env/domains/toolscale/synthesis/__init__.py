"""ToolScale synthesis: grow a new verifiable domain and its tasks with any LLM backend.

Modules: :mod:`.prompts` (stage templates), :mod:`.stages` (output shapes, one repair),
:mod:`.validation` (what each answer must mean), :mod:`.filter` (the execution filter),
:mod:`.pipeline` (:func:`synthesize`). See docs/toolscale.md.
"""
from orchestra_env.domains.toolscale.synthesis.pipeline import SynthesisReport, synthesize
from orchestra_env.domains.toolscale.synthesis.stages import StageRejected

__all__ = ["StageRejected", "SynthesisReport", "synthesize"]
