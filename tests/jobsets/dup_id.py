from scheduler_proc import Jobs

jobs = Jobs()


@jobs.every(seconds=5, id="sync")
def first() -> None: ...


@jobs.every(seconds=5, id="sync")
def second() -> None: ...
