"""CPU spin: burn CPU forever (stopped by RLIMIT_CPU or the wall-clock timeout)."""
while True:
    pass
