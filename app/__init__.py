"""The demo FastAPI app served by gunicorn, with its scheduled jobs in app.jobs."""
