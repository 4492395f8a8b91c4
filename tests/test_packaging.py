"""A non-editable install finds its rulebook and templates from any directory."""

import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.helpers import EXAMPLE, ROOT


@pytest.mark.slow
def test_wheel_install_runs_assess_from_another_directory(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(ROOT)],
                   check=True, cwd=tmp_path)
    [wheel] = wheels.glob("advisor-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # dependencies come from the test environment; advisor itself only from the wheel
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # (every site-packages folder of this interpreter: an environment may itself borrow its packages by a .pth line)
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], *(p for p in sys.path if p.endswith("site-packages"))])
    Path(site, "deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "ADVISOR_DB": str(work / "a.duckdb")}
    where = subprocess.run([str(python), "-c", "import advisor, advisor.rules; print(advisor.__file__)"],
                           capture_output=True, text=True, check=True, cwd=work, env=env).stdout
    assert where.startswith(site), where  # the installed copy, not the source tree
    result = subprocess.run([str(env_dir / "bin" / "advisor"), "assess", "--no-input", "--answers",
                             str(EXAMPLE / "answers.yaml"), "--out", "r.md", "--probes", "none"],
                            capture_output=True, text=True, cwd=work, env=env)
    assert result.returncode == 0, result.stderr
    assert "## Strategy ranking" in (work / "r.md").read_text()
    listed = subprocess.run([str(env_dir / "bin" / "advisor"), "rules", "list"], capture_output=True, text=True,
                            cwd=work, env=env, check=True).stdout
    assert re.search(r" rules in \d+ groups, rulebook ", listed)
    french = subprocess.run([str(env_dir / "bin" / "advisor"), "report", "1", "--lang", "fr", "--out", "fr.md"],
                            capture_output=True, text=True, cwd=work, env=env)
    assert french.returncode == 0, french.stderr
    assert "## Synthèse" in (work / "fr.md").read_text()  # the catalog ships in the wheel
