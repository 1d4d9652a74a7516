"""Memory hog: allocate and touch 10 MB blocks until something gives (stopped by RLIMIT_AS)."""
blocks = []
while True:
    blocks.append(b"x" * 10_000_000)
