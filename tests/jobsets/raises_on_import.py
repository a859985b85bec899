from scheduler_proc import Jobs

jobs = Jobs()
CONFIG: str = dict[str, str]()["missing-key"]
