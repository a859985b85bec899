"""``python -m scheduler_proc``: the operator's CLI (status, jobs, history, run, pause, next)."""

import sys

from scheduler_proc.web.cli import main

sys.exit(main())
