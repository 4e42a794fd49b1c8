import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

try:
    from hypothesis import settings

    settings.register_profile("ci", max_examples=250, deadline=None, derandomize=True)
    settings.register_profile("dev", max_examples=100, deadline=None, derandomize=True)
    settings.load_profile(os.environ.get("TNVIZ_HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # hypothesis is a test dependency; the import error surfaces in the tests
    pass

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under pytest-xdist each worker has a core of its own; torch's default of one thread per core
    # would put two workers' threads on each core and slow both.
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


@pytest.fixture(autouse=True)
def _seed():
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:
        pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI a skipped test is a failure: a missing dependency or tool must not pass unseen."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, which counts as a failure here: {reason}"
