"""Fill the host's /tmp: write 1 MiB chunks to /tmp until the disk refuses (at most 2 GiB)."""
import os

written = 0
try:
    with open(f"/tmp/fill-{os.getpid()}", "wb") as f:
        while written < 2048:
            f.write(b"x" * (1 << 20))
            f.flush()
            written += 1
except OSError as exc:
    print("refused:", type(exc).__name__, exc.errno)
finally:
    print("wrote MiB:", written)
    try:
        os.remove(f"/tmp/fill-{os.getpid()}")
    except OSError:
        pass
