"""Every format that crosses a process boundary or is stored, written down once, with encode and decode.

One module per format, each with its type, ``encode_*`` and ``decode_*``; every decoder reads
through :mod:`~scheduler_proc.formats.validate`, which returns typed values or raises
:class:`~scheduler_proc.errors.UnreadableData` naming the thing, the bad value and the fix:
unreadable data is caught there, once. Everything is plain JSON (or argv): nothing crosses a
boundary pickled. Standard library only: the master, the supervisor and the root deploy tool
import it.

- :mod:`.status`: the status file (runner -> web workers, CLI, readiness gate).
- :mod:`.reports`: the report pipes (runner -> supervisor -> master).
- :mod:`.acks`: command acknowledgements (leader -> whoever sent the command).
- :mod:`.argv`: the supervisor's and the runner's command lines.
- :mod:`.commands`: operator commands on the bus (a file, or a Redis stream entry).
- :mod:`.holder`: the host-lock record in the lock file.
- :mod:`.history`: run history entries (SQLite ledger, Redis lists, the API).
- :mod:`.terms`: ``terms.json``, the highest term a node has seen.
- :mod:`.job_request`: the run request a runner writes on a job process's stdin.
- :mod:`.ownership`: the deploy tool's record of what it created for an app.
- :mod:`.vocabulary`: the shared words (roles, modes, run outcomes, manual-run results, actions).
"""
