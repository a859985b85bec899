"""The cluster backend: a lease with fencing terms, the fire ledger and the command stream in one Redis.

Inside this package ``import redis`` is redis-py (absolute imports); the kit's own modules are
always named in full, ``scheduler_proc.coordination.redis.<module>``.
"""
