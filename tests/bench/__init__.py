"""The benchmark (not part of the test run): python -m tests.bench [--quick]."""
