from scheduler_proc import Jobs

jobs = Jobs()


@jobs.every(seconds=1, id="tick\u202e")
def tick() -> None: ...
