"""orchestra-env: Gymnasium environments for tool orchestration.

Importing the package registers the environment ids; nothing heavy (torch, faiss,
transformers) is imported until an environment needs it.
"""
from __future__ import annotations

from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"

TAU2_DOMAINS = ("airline", "retail", "telecom", "mock")
TOOLSCALE_DOMAINS = (
    "bank", "basketball", "ecommerce", "medicine", "movie",
    "railway", "restaurant", "school", "travel", "weather",
)

# id -> (entry point, fixed kwargs)
ENV_IDS: dict[str, tuple[str, dict]] = {
    "Orchestra/FRAMES-v0": ("orchestra_env.envs.qa:FramesEnv", {}),
    "Orchestra/HLE-v0": ("orchestra_env.envs.qa:HLEEnv", {}),
    **{
        # tau2_exact: tool calls run as tau2-bench runs them, so rewards compare with its leaderboard
        f"Orchestra/Tau2-{d}-v0": ("orchestra_env.envs.tau2:Tau2Env", {"domain": d, "tau2_exact": True})
        for d in TAU2_DOMAINS
    },
    # any domain folder: gym.make("Orchestra/ToolScale-v0", domain_path=...) (default: bank)
    "Orchestra/ToolScale-v0": ("orchestra_env.envs.toolscale:ToolScaleEnv", {}),
    **{
        f"Orchestra/ToolScale-{d}-v0": ("orchestra_env.envs.toolscale:ToolScaleEnv", {"domain": d})
        for d in TOOLSCALE_DOMAINS
    },
}


def _register() -> None:
    for env_id, (entry_point, kwargs) in ENV_IDS.items():
        if env_id not in registry:
            register(id=env_id, entry_point=entry_point, kwargs=kwargs)


_register()

__all__ = ["__version__", "ENV_IDS", "TAU2_DOMAINS", "TOOLSCALE_DOMAINS"]
