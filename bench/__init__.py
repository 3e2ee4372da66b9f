"""jigaido's benchmark: `.venv/bin/python -m bench` from the repository root.

Not part of the test suite. Every figure is measured beside its baseline in the same
run (machines are noisy), and the run ends with one JSON line holding all of them.
"""
