"""The deploy tool, run from a checkout: ``python -m deploy ARGS`` (as root, or with --destdir).

The tool itself is :mod:`scheduler_proc.deploy` (``make deploy`` runs it); this package gives
it a short name at the checkout's root, importing the kit like any other code does. Next to
it, ``prometheus/`` and ``grafana/`` hold the shipped alert rules and dashboard.
"""
