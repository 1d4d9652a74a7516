"""Read the host's secrets through /proc: the parent's environment and its open files."""
import os

SECRET = "__SECRET__"
found = []
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    for path in [f"/proc/{pid}/environ"] + [f"/proc/{pid}/fd/{fd}" for fd in range(3, 64)]:
        try:
            with open(path, "rb") as f:
                if SECRET.encode() in f.read(1 << 20):
                    found.append(path)
        except OSError:
            continue
print("LEAKED" if found else "nothing found", found[:5])
