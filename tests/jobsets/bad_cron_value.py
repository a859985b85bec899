from scheduler_proc import Jobs

jobs = Jobs()


@jobs.cron("*/5 25 * * *")
def cleanup() -> None: ...
