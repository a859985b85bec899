"""``python -m scheduler_proc.deploy ARGS``: the deploy tool (see :mod:`scheduler_proc.deploy`)."""

import sys

from scheduler_proc.deploy import main

sys.exit(main())
