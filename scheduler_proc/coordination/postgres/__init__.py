"""Cluster mode on PostgreSQL: the lease, the fire ledger and the command bus in one schema per app.

The same guarantees as ``redis/`` (see ``coordination/interfaces.py``), kept by server-side
functions (``sql/*.sql``), so every lease call and every claim is one atomic statement.
"""
