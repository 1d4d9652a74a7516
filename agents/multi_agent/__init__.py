"""alpha-UMi (Shen et al. 2024, "Small LLMs Are Weak Tool Learners: A Multi-LLM Agent"): a
planner, a caller and a summarizer over one shared history, trained global-to-local (GLPFT).

Modules, one concept each::

    roles.py      the role prompts, the shared history, parsing each role's output
    data.py       trajectories from our envs and the converter into per-role examples
    glpft.py      the two GLPFT stages on TRL's SFTTrainer (LoRA adapters per role, or copies)
    alpha_umi.py  the agent: acts in any Orchestra env through ordinary actions
    metrics.py    Plan ACC, Action EM, argument F1, hallucination, Rouge-L, end-to-end runs
    cli.py        ``python -m agents.multi_agent.cli --algo glpft ...``
"""
