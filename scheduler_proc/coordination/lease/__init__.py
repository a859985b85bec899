"""The cluster leader lease, the same for every store: its state machine, the clock watch, the store's
health as operators see it, and ``ClusterLeadership``. Each backend (``redis/``, ``postgres/``) brings
its ``LeaseCalls`` and ``Notices`` (see calls.py) and a constructor that puts them together.
"""
