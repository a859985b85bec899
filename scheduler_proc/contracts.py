"""Moved to :mod:`scheduler_proc.formats`; kept until coordination/ imports from there."""

from __future__ import annotations

from scheduler_proc.formats.acks import CommandAck
from scheduler_proc.formats.reports import Report, ReportEvent
from scheduler_proc.formats.status import ClusterStatus, JobRow, StatusDocument
from scheduler_proc.formats.vocabulary import Mode, Role

__all__ = ["ClusterStatus", "CommandAck", "JobRow", "Mode", "Report", "ReportEvent", "Role", "StatusDocument"]
