"""Fork bomb: every process forks forever (stopped by RLIMIT_NPROC / pid namespace / audit hook)."""
import os

while True:
    os.fork()
