"""The locker contract for the in-process locker of the embedded default (one process)."""

from __future__ import annotations

import pytest

from tests.conformance.locker_suite import LockerSuite, MakeLocker
from tusd_py.state.memory import MemoryLocker


class TestMemoryLocker(LockerSuite):
    @pytest.fixture
    def make_locker(self) -> MakeLocker:
        locker = MemoryLocker()  # one process: every "request" shares the same locker
        return lambda: locker
