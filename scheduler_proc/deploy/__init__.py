"""Single-VM install with systemd: ``scheduler-proc deploy``, ``python -m scheduler_proc.deploy``, ``make deploy``.

Runs as root with the system Python and imports only the standard library and the kit's
stdlib-only modules (``variables``, ``securedir``, ``web.ready``): it works before any venv
exists. One module each:

- ``tool``: the steps (release, switch, env file, unit, user, prune), the commands and ``main``.
- ``project``: what a deploy ships, from the kit's checkout or from a user's ``--project``.
- ``layout``: where one app lives, the files deploy reads back, errors and messages.
- ``services``: systemd, or nothing when staged (DESTDIR).
- ``health``: the kit's ``<prefix>/livez`` and ``/readyz`` after a start, and a leader somewhere.
- ``redis_local``: REDIS=local (a local redis-server) and REDIS=<url>.
- ``postgres``: POSTGRES=<url>, and the PostgreSQL driver in the release's venv.
"""

from __future__ import annotations

from scheduler_proc.deploy.tool import main

__all__ = ["main"]
