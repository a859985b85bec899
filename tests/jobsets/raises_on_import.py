from scheduler_proc import Jobs

jobs = Jobs()
CONFIG = {}["missing-key"]
