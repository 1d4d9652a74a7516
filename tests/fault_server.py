"""The tests' name for :mod:`benchmarks.fault_server` (the loopback server that misbehaves on cue)."""
from benchmarks.fault_server import Fault, FaultServer, Seen, _reply, completion  # noqa: F401
