"""Who may run what: the host lock, the cluster lease and its terms, the ledgers of claims,
the command bus, and the Redis connection they share. Used by the runner, the supervisor
(to release a dead runner's lease) and the web side (to read); it imports none of them.

Layout (the seam a new backend plugs into):

- ``interfaces``: every Protocol a backend implements, with what it must guarantee;
  ``records``: the plain records they speak; ``term``: leadership terms and run ids;
  ``unreadable``: logs an unreadable stored value once. None imports a backend.
- ``local/``: the single-host backend (host lock, SQLite ledger, file command bus).
- ``redis/``: the cluster backend (lease, ledger, command stream, Lua scripts).
- ``backend``: picks the backend from the settings; the only module importing both.

A new backend (PostgreSQL, say) is one more subpackage that provides a ``Leadership``, a
``Ledger`` and a ``CommandBus`` (``interfaces``) and whatever start-up check it needs, plus
one branch in ``backend.open_backend``, ``open_ledger`` and ``open_bus``; it imports no other
backend, and an import contract in pyproject.toml says so.
"""
