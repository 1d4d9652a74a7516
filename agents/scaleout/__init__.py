"""Scale-out on real engines: Ray rollout workers, a vLLM generation backend, a verl AgentLoop.

Nothing here is a distribution layer of our own: Ray places and restarts the env actors, vLLM
generates, verl trains on a cluster. Each module imports its engine lazily, so importing
``agents.scaleout`` needs none of them. See docs/scale_out.md.
"""
