"""Read host secrets: API keys from the environment and a secret file on the host."""
import os

leaked = {k: v for k, v in os.environ.items() if any(w in k for w in ("KEY", "TOKEN", "SECRET"))}
print("env:", leaked)
try:
    with open("__SECRET_FILE__") as f:
        print("file:", f.read())
except OSError as exc:
    print("file refused:", type(exc).__name__)
