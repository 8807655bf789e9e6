"""What the fresh-clone check trusts without rerunning a test (tests/support/shared.py)."""

from __future__ import annotations

import pytest

from tests.support import shared
from tests.support.shared import Access
from tests.test_fresh_clone import what_to_rerun


def test_only_accesses_that_all_skip_with_nothing_to_catch_the_skip_are_trusted():
    assert Access(["require_crds", "validate_objects"]).skips_at_first_access
    assert not Access(["require_crds", "crds_dir"]).skips_at_first_access  # crds_dir() returns None: rerun
    assert not Access(["validate_object"]).skips_at_first_access  # fails without the CRDs: rerun
    assert not Access(["sops_fixture"], {"tests/x.py"}).skips_at_first_access  # a handler could catch the skip
    assert not Access([]).skips_at_first_access


@pytest.mark.parametrize("line,catches", [
    ("    except BaseException as exc:", True),
    ("    except:", True),
    ("    except (ValueError, BaseException):", True),
    ("    with pytest.raises(pytest.skip.Exception, match='x'):", True),
    ("    with pytest.raises((OSError, Skipped)):", True),
    ("    with contextlib.suppress(BaseException):", True),
    ("    except Exception:", False),
    ("    except ValueError:", False),
    ("    with pytest.raises(ValueError):", False),
])
def test_a_handler_that_can_catch_pytests_skip_is_found(line, catches):
    assert bool(shared._CATCHES_SKIP.search(line)) is catches


def test_one_cheapest_test_per_entry_point_and_every_other_test_whole():
    used = {"a::slow": Access(["require_crds"]), "a::fast": Access(["require_crds", "sops_fixture"]),
            "b::sops": Access(["sops_fixture"]), "b::dir": Access(["crds_dir"]),
            "c::caught": Access(["require_chart"], {"tests/c.py"})}
    representatives, whole = what_to_rerun(used, {"a::slow": 9.0, "a::fast": 0.1, "b::sops": 1.0})
    assert representatives == {"require_crds": "a::fast", "sops_fixture": "b::sops"}
    assert whole == ["b::dir", "c::caught"]
