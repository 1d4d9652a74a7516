"""Deep recursion past the C stack: lift the recursion limit, then repr a 1e6-deep nested list."""
import sys

sys.setrecursionlimit(10**7)
nested = []
for _ in range(1_000_000):
    nested = [nested]
print(len(repr(nested)))
