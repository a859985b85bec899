"""The gunicorn master's side (and uvicorn's lifespan, which plays the master's part).

It starts one supervisor process outside the HTTP workers and stops it with the server.
Standard library and the shared top-level modules only: the master forks every worker,
so what it imports, every worker carries (`make lint` checks this).
"""
