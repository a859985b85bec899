"""A jobs module that calls sys.exit at import with a message holding the admin token."""

from __future__ import annotations

import os
import sys

sys.exit(f"cannot start with {os.environ['SCHEDULER_ADMIN_TOKEN']}")
