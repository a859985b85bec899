"""Single-VM install with systemd: ``scheduler-proc deploy``, ``python -m scheduler_proc.deploy``, ``make deploy``.

Runs as root with the system Python and imports only the standard library and the kit's
stdlib-only modules (``variables``, ``securedir``, ``web.ready``): it works before any venv
exists. :mod:`scheduler_proc.deploy.tool` holds the steps and the command line.
"""

from __future__ import annotations

from scheduler_proc.deploy.tool import main

__all__ = ["main"]
