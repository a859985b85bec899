from scheduler_proc import Jobs

jobs = Jobs()


@jobs.cron("*/61 * * *")
def cleanup() -> None: ...
