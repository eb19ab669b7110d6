"""Repository-wide pytest policy (loaded for every test path under this directory).

Data-marker policy: tests marked ``@pytest.mark.data`` need a real data set on disk and skip, with a
reason saying what is missing, on a user's machine. When the environment variable ``KAN_REQUIRE_DATA`` is
set to a true value (CI sets ``KAN_REQUIRE_DATA=1`` after installing the data), such a skip is turned into
a failure, so CI can never pass by silently skipping the data tests.

Threads: every test runs with one intra-op torch thread (restored afterwards). The tests are tiny, and on
a shared 2-core machine two threads per op oversubscribe the CPU and make them several times slower
(measured: a PINN step went from ~0.15 s to ~7 s under load).
"""

from __future__ import annotations

import os

import pytest
import torch

_TRUE = {"1", "true", "yes", "on"}


def _require_data() -> bool:
    return os.environ.get("KAN_REQUIRE_DATA", "").strip().lower() in _TRUE


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("data") is not None
        and _require_data()
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"data-marked test was skipped but KAN_REQUIRE_DATA={os.environ['KAN_REQUIRE_DATA']} "
            f"requires its data; skip reason: {_skip_reason(report)}"
        )


def pytest_report_header(config: pytest.Config) -> str:
    mode = "data tests must run (skips fail)" if _require_data() else "data tests skip when data is missing"
    return f"KAN_REQUIRE_DATA={os.environ.get('KAN_REQUIRE_DATA', '')!r}: {mode}"


@pytest.fixture(autouse=True)
def _single_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
