"""Who reached for ../shared in this session, and how: what the fresh-clone check (tests/test_fresh_clone.py) needs.

Every way into ../shared (CRDs, charts, sops fixtures) goes through tests/support/ (k8s_strict.py, helm.py,
sops_fixtures.py); each public entry point there calls `record(<its name>)`, and tests/conftest.py says which test
(and which higher-scoped fixture) is running.

Most entry points skip the calling test, with a reason naming the variable to set, when their directory is absent
(SKIPS_WHEN_ABSENT). A test whose every access went through one of them, with no frame on the way that can catch
pytest's skip, therefore skips on a fresh clone at its first access: the code before that access ran in this session
and read nothing of ../shared. The fresh-clone check reruns one such test per entry point without ../shared, to prove
the entry point's skip, and reruns for real every other recorded test (an entry point that returns instead of
skipping, such as crds_dir(), or a frame that could catch the skip).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent

# The entry points that skip the calling test when their directory is absent, and the variable their reason names.
SKIPS_WHEN_ABSENT = {
    "require_crds": "MINNOVA_CRDS_DIR",  # k8s_strict.py
    "validate_objects": "MINNOVA_CRDS_DIR",  # k8s_strict.py: recorded only when it meets a custom resource
    "require_chart": "MINNOVA_CHARTS_DIR",  # helm.py
    "sops_fixture": "MINNOVA_SOPS_FIXTURES",  # sops_fixtures.py
}

# What can catch pytest's skip (an OutcomeException, a BaseException): a bare `except:`, `except BaseException`,
# `except` or `pytest.raises` of pytest's skip/outcome classes, `suppress(BaseException)`.
_CATCHES_SKIP = re.compile(
    r"except\s*:|except\s*\(?[^:\n]*\b(BaseException|Skipped|OutcomeException|skip\.Exception)\b"
    r"|raises\(\s*\(?[^)\n]*\b(BaseException|Skipped|OutcomeException|skip\.Exception)\b"
    r"|suppress\([^)\n]*\bBaseException\b")


@dataclass
class Access:
    """How one test (or one higher-scoped fixture) reached for ../shared."""

    kinds: list[str] = field(default_factory=list)  # the entry points, in the order first used
    catchers: set[str] = field(default_factory=set)  # files on the stack of an access that can catch a skip

    def add(self, other: "Access") -> None:
        self.kinds += [kind for kind in other.kinds if kind not in self.kinds]
        self.catchers |= other.catchers

    @property
    def skips_at_first_access(self) -> bool:
        """Without ../shared, the first access skips the test: every access skips, and nothing can catch it."""
        return bool(self.kinds) and all(kind in SKIPS_WHEN_ABSENT for kind in self.kinds) and not self.catchers


CURRENT: list[str] = []  # the node id of the test being set up or run (one element at most)
FIXTURES: list[tuple[str, str]] = []  # (name, scope) of the fixtures being set up, innermost last
USED: dict[str, Access] = {}  # node ids of this session's tests that reached for ../shared
STICKY: dict[str, Access] = {}  # module- and session-scoped fixtures that reached for it (their users did too)
DURATIONS: dict[str, float] = {}  # seconds each test took (setup, call, teardown): the check reruns the cheapest
_CATCHING_FILES: dict[str, bool] = {}


def _catches_skip(filename: str) -> bool:
    if filename not in _CATCHING_FILES:
        _CATCHING_FILES[filename] = bool(_CATCHES_SKIP.search(re.sub(r"#.*", "", Path(filename).read_text())))
    return _CATCHING_FILES[filename]


def _catchers() -> set[str]:
    """The test files on the current stack that hold a handler able to catch pytest's skip."""
    found = set()
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(str(TESTS_DIR)) and _catches_skip(filename):
            found.add(str(Path(filename).relative_to(TESTS_DIR.parent)))
        frame = frame.f_back
    return found


def record(kind: str) -> None:
    """The running test (and every higher-scoped fixture being set up for it) reached for ../shared via `kind`."""
    if not CURRENT:
        return
    access = Access([kind], _catchers())
    USED.setdefault(CURRENT[0], Access()).add(access)
    for name, scope in FIXTURES:
        if scope != "function":
            STICKY.setdefault(name, Access()).add(access)


def inherit(nodeid: str, fixturenames) -> None:
    """A test using a higher-scoped fixture that reached for ../shared depends on it as much (the fixture, cached,
    does not reach again: without ../shared its cached skip ends every test using it)."""
    for name in fixturenames:
        if name in STICKY:
            USED.setdefault(nodeid, Access()).add(STICKY[name])
