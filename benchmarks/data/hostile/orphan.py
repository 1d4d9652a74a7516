"""Leave a process behind: start a sleeper (optionally in its own session) and hang."""
import subprocess
import sys
import time

new_session = "__SETSID__" == "1"
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "__MARKER__"], start_new_session=new_session)
print("spawned", flush=True)
while True:
    time.sleep(0.05)
