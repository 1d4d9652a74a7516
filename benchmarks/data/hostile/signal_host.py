"""Kill a host process: os.kill (audited) and libc kill(2) through ctypes (not audited)."""
import ctypes
import os
import signal

PID = __PID__
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.kill(PID, signal.SIGKILL)
print("libc.kill:", rc, os.strerror(ctypes.get_errno()) if rc else "sent")
try:
    os.kill(PID, signal.SIGKILL)
    print("os.kill: sent")
except Exception as exc:
    print("os.kill:", type(exc).__name__)
