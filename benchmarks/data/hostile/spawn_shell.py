"""Spawn a shell that writes a file (stopped by the audit hook; bwrap contains the shell's writes)."""
import os

os.system("echo pwned > __TARGET__")
print("shell ran")
