"""Infinite loop that sleeps, so it uses no CPU (stopped only by the wall-clock timeout)."""
import time

while True:
    time.sleep(0.01)
