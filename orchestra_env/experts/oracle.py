"""The task oracle: how the simulated pool learns the hidden task without a request carrying it.

Ground truth must never travel in anything a policy builds or reads. So
:class:`~orchestra_env.experts.base.ExpertRequest` has no task field: a real backend can never
be sent the answer, and a policy that builds its own request (``PromptedPolicy``) has no slot
to pass it along in. The *simulated* pool still needs the task to decide whether a call is
right. The environment provides it through this side channel, which it owns:

* while ``OrchestraEnv.step`` dispatches a tool and judges the episode, it binds the episode's
  task with :func:`bound_task`;
* :class:`~orchestra_env.experts.simulated.SimulatedExpert` reads :func:`current_task`.

The binding is a :class:`contextvars.ContextVar`, so it is local to the thread (and asyncio
task) that runs the step: vectorised envs in threads do not see each other's tasks, and a
request a policy sends from its own ``act()`` (outside any step) finds no task bound, so the
simulator treats it like a real model would: it sees the messages only. Code that binds a task
itself (``OracleRouter``'s lookahead) is privileged by construction and says so: it is an upper
bound, not an agent.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from orchestra_env.tasks import Task

_CURRENT: ContextVar["Task | None"] = ContextVar("orchestra_env_current_task", default=None)
_EPISODE: ContextVar["int | None"] = ContextVar("orchestra_env_current_episode", default=None)


@contextmanager
def bound_task(task: "Task | None", episode_seed: "int | None" = None) -> Iterator[None]:
    """Make ``task`` the simulated pool's ground truth for the calls made inside the block.

    ``episode_seed`` identifies the episode, so that a draw the simulator must keep for the
    whole episode (whether a model can do a step of the task: asking it again gets the same
    verdict) is the same across turns and different across episodes."""
    token, episode = _CURRENT.set(task), _EPISODE.set(episode_seed)
    try:
        yield
    finally:
        _CURRENT.reset(token)
        _EPISODE.reset(episode)


def current_task() -> "Task | None":
    """The task the env bound for the call in progress, or None (a call from outside a step)."""
    return _CURRENT.get()


def current_episode_seed() -> "int | None":
    """The seed of the episode whose task is bound, or None."""
    return _EPISODE.get()
