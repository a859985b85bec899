"""``python -m deploy ARGS``: the deploy tool of this checkout (see :mod:`scheduler_proc.deploy`)."""

import sys

from scheduler_proc.deploy import main

sys.exit(main())
