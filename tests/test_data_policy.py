"""The root conftest's data-marker policy: data skips pass on users' machines and fail under CI."""

from __future__ import annotations

import shutil
import subprocess

import pytest

TEST_FILE = """
import pytest

@pytest.mark.data
def test_needs_data():
    pytest.skip("Fashion-MNIST not found under /nowhere")

@pytest.mark.data
@pytest.mark.skipif(True, reason="no data (skipif)")
def test_needs_data_skipif():
    pass

def test_plain_skip_is_still_a_skip():
    pytest.skip("unrelated")

@pytest.mark.data
def test_data_present():
    assert True
"""

INI = "[pytest]\naddopts = --strict-markers -ra -p no:cacheprovider\nmarkers =\n    data: needs data\n"


@pytest.fixture
def project(tmp_path, repo_root):
    shutil.copy(repo_root / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "test_policy.py").write_text(TEST_FILE)
    return tmp_path


def _run(project, python, env):
    return subprocess.run(
        [python, "-m", "pytest", "-q", str(project)],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_data_skips_are_skips_without_the_variable(project, python, subprocess_env):
    subprocess_env.pop("KAN_REQUIRE_DATA", None)
    proc = _run(project, python, subprocess_env)
    assert proc.returncode == 0, proc.stdout
    assert "1 passed, 3 skipped" in proc.stdout
    assert "Fashion-MNIST not found under /nowhere" in proc.stdout


def test_data_skips_fail_when_data_is_required(project, python, subprocess_env):
    subprocess_env["KAN_REQUIRE_DATA"] = "1"
    proc = _run(project, python, subprocess_env)
    assert proc.returncode == 1, proc.stdout
    assert "KAN_REQUIRE_DATA=1" in proc.stdout
    assert "Fashion-MNIST not found under /nowhere" in proc.stdout
    # the call-phase skip fails, the setup-phase skipif errors; the unrelated skip stays a skip
    assert "1 failed, 1 passed, 1 skipped, 1 error" in proc.stdout
