"""The benchmarks: each module's ``main(argv)`` runs one measurement under a run record and
writes ``results/<name>.{csv,json,md}`` (see :mod:`benchmarks.common`). Installed with the
package (``orchestra bench NAME``); the data they need ships in ``benchmarks/data``."""
