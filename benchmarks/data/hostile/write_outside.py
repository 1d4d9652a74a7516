"""Write files outside the work directory (stopped by bwrap's read-only/private filesystem or the audit hook)."""
import json

for target in json.loads("__TARGETS__"):
    try:
        with open(target, "w") as f:
            f.write("pwned")
        print("wrote", target)
    except OSError as exc:
        print("refused", target, type(exc).__name__, exc)
