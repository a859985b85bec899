from scheduler_proc.runner.process import run_as_main

run_as_main()
