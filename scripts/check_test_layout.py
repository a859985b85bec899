"""Fail when a module of scheduler_proc has no unit test file a newcomer can find.

Tests mirror the code: scheduler_proc/<package>/<module>.py is tested in
tests/unit/<package>/test_<module>.py (tests/unit/test_<module>.py for a top-level module).
A module that only a scenario with real processes can exercise is listed in EXEMPT with the
integration test file that covers it; the check fails if that file is gone, or if an exempt
module has gained a unit test file (then it leaves the list). Run by ``make lint``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "scheduler_proc"
UNIT = ROOT / "tests" / "unit"
INTEGRATION = ROOT / "tests" / "integration"
_HERE = "scripts/check_test_layout.py"

#: Files that hold no logic of their own to test: re-exports and ``python -m`` entry points.
NOT_MODULES = {"__init__.py", "__main__.py"}

#: Modules covered only by integration tests: module (dotted, under scheduler_proc) -> test file
#: in tests/integration/. Each comment says why no unit test (yet); every entry is a debt to pay
#: down, not a place to put new modules.
#: Every module has one now (issue 24): keep it so.
EXEMPT: dict[str, str] = {}


def unit_test_path(module: Path) -> Path:
    """Where the unit tests of ``module`` (a file under scheduler_proc/) belong."""
    relative = module.relative_to(PACKAGE)
    return UNIT / relative.parent / f"test_{relative.name}"


def dotted(module: Path) -> str:
    """``runner.executor`` for scheduler_proc/runner/executor.py."""
    return ".".join(module.relative_to(PACKAGE).with_suffix("").parts)


def problems() -> list[str]:
    """One line per module without a test file, per stale exemption, per exemption naming no file."""
    found: list[str] = []
    modules = sorted(path for path in PACKAGE.rglob("*.py") if path.name not in NOT_MODULES)
    names = {dotted(module) for module in modules}
    for module in modules:
        name, test = dotted(module), unit_test_path(module)
        if name in EXEMPT:
            if test.exists():
                found.append(f"{name} has {test.relative_to(ROOT)}: remove it from EXEMPT")
            elif not (INTEGRATION / EXEMPT[name]).exists():
                found.append(f"{name} is exempt for tests/integration/{EXEMPT[name]}, which does not exist")
        elif not test.exists():
            found.append(f"{name} has no unit test: write {test.relative_to(ROOT)} (or exempt it in {_HERE})")
    found += [f"EXEMPT names {name}, which is no module of scheduler_proc" for name in sorted(set(EXEMPT) - names)]
    return found


def main() -> int:
    """Print every problem; exit 1 if there is one."""
    found = problems()
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
