"""``orchestra``: the command line above the three layers.

``orchestra_env`` (envs, tools, experts, data) <- ``agents`` (policies, trainers, baselines)
<- ``benchmarks``; this package sits on top and may import all three. Nothing imports it.
"""
