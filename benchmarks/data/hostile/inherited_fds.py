"""Read the host's open files through descriptors the sandbox might have inherited."""
import os
import stat

SECRET = "__SECRET__"
found = []
for fd in range(3, 1024):
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and SECRET.encode() in os.pread(fd, 1 << 20, 0):
            found.append(fd)
    except OSError:
        continue
print("LEAKED" if found else "nothing found", found)
