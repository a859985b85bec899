"""The single-host backend: the host lock, the SQLite ledger, the file command bus, the term memory.

Imports nothing of ``redis/`` nor redis-py (an import contract in pyproject.toml holds it).
"""
