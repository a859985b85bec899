from scheduler_proc import Jobs

jobs = Jobs()


@jobs.every(seconds=5)
def needs_args(user_id: int) -> None: ...
