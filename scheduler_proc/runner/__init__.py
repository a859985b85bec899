"""The runner process: APScheduler, the user's jobs, and the fire path (claim, then run).

Run as ``python -m scheduler_proc.runner`` by the supervisor.
"""
