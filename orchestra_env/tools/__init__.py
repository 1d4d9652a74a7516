"""What the policy can call: the Tool seam (``base``), ToolOrchestra's tools (``search.tool``:
search; ``llm_tools``: enhance_reasoning, answer, call_expert, all asking an expert model;
``python_tool``) and their backends (``search`` indices, ``sandbox``). The expert *backends*
(simulated pool, OpenAI-compatible, local) are the separate :mod:`orchestra_env.experts`."""
