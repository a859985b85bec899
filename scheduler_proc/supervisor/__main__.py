from scheduler_proc.supervisor.process import run_as_main

run_as_main()
