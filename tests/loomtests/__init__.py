"""Shared test support for loomtui: fakes, helpers and the llama.cpp server launcher.

Importable by every test (``pythonpath = ["tests"]`` in pyproject) and by ``benchmarks/``.
"""
