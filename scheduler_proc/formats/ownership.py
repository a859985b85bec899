"""The deploy tool's ownership record, ``/etc/<app>/.deployed-by-scheduler-proc``: what deploy created
for one app, so that later deploys, rollbacks and undeploys touch only that (see ``deploy.ownership``).

Root-owned JSON, indented for the admin who reads it. The deploy tool runs as root with the
system Python: this module, like the package, needs only the standard library.
"""

from __future__ import annotations

import json
from typing import TypedDict

from scheduler_proc.formats.validate import Fields, Source, parse_json


class OwnershipRecord(TypedDict):
    """What deploy created for one app (paths as on the host, not prefixed by DESTDIR)."""

    app: str
    user: str
    user_created: bool  # deploy made the user, so undeploy may remove it
    unit: str
    dirs: list[str]


def encode_ownership(record: OwnershipRecord) -> bytes:
    return (json.dumps(record, indent=1) + "\n").encode()


def decode_ownership(raw: bytes, source: Source) -> OwnershipRecord:
    fields = Fields(source, parse_json(source, raw))
    return OwnershipRecord(
        app=fields.text("app"),
        user=fields.text("user"),
        user_created=fields.boolean("user_created"),
        unit=fields.text("unit"),
        dirs=fields.texts("dirs"),
    )
