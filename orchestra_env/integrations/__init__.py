"""Adapters that serve Orchestra environments to other RL stacks (OpenEnv, verifiers).

Each adapter is one module and imports its framework lazily, so ``import orchestra_env`` never
needs them. Trainer-side adapters (TRL) live in ``agents``, which may import torch.
"""
