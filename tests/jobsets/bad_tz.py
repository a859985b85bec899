from scheduler_proc import Jobs

jobs = Jobs()


@jobs.cron("0 9 * * *", timezone="Europe/Atlantis")
def report() -> None: ...
