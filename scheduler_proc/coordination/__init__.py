"""Who may run what: the host lock, the cluster lease and its terms, the ledgers of claims,
the command bus, and the Redis connection they share. Used by the runner, the supervisor
(to release a dead runner's lease) and the web side (to read); it imports none of them.
"""
