"""``advisor --help`` imports no heavy library."""

import subprocess
import sys

CHECK = """
import sys
from click.testing import CliRunner
from advisor.cli import cli
runner = CliRunner()
for args in (["--help"], ["--version"], ["probe", "--help"], ["models", "--help"], ["rules", "--help"]):
    result = runner.invoke(cli, args)
    assert result.exit_code in (0, 2), (args, result.output)
heavy = sorted(m for m in ("torch", "transformers", "peft", "sentence_transformers") if m in sys.modules)
print(",".join(heavy))
"""


def test_help_and_version_import_no_heavy_library():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at startup: {out.stdout.strip()}"


def test_version_matches_package():
    from advisor import __version__

    out = subprocess.run([sys.executable, "-m", "advisor", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"advisor, version {__version__}"
