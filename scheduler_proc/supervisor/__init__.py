"""The supervisor process: starts the runner, restarts it with backoff, swaps it on HUP.

Small on purpose: it never imports the user's jobs, APScheduler or prometheus_client
(`make lint` checks this), so it survives whatever the runner does. Run as
``python -m scheduler_proc.supervisor``.
"""
