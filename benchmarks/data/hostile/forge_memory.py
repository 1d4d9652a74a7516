"""Forge the peak-memory figure: write a tiny number into every writable inherited pipe."""
import os
import stat

for fd in range(3, 256):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, b"1\n")
            os.close(fd)
    except OSError:
        continue
big = bytearray(80 * 1024 * 1024)
big[::4096] = b"x" * len(big[::4096])
print("forged")
