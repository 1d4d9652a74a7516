"""Huge stdout: print forever (capped by the output reader, then stopped)."""
line = "x" * 1000
while True:
    print(line)
