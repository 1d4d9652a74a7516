"""Huge file: write 1 GiB into the work directory (stopped by RLIMIT_FSIZE)."""
chunk = b"x" * (1 << 20)
with open("huge.bin", "wb") as f:
    for _ in range(1024):
        f.write(chunk)
print("wrote 1 GiB")
