#!/usr/bin/env python3
"""The deploy tool's old path: runs ``python -m scheduler_proc.deploy`` from this checkout.

Kept so that ``python3 deploy/deploy.py ...`` still works; the code is in scheduler_proc/deploy/.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scheduler_proc.deploy import main  # (the path above finds it)

if __name__ == "__main__":
    sys.exit(main())
