"""Turnout's test suite (a package so ``tests.support`` is importable from every test)."""
