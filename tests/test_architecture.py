"""The dependency rules of the architecture, checked on every run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    """import-linter contracts in pyproject.toml: planner never imports kerf, the validator
    never imports the solver, ortools/networkx/libfdt/typer stay in their modules."""
    result = subprocess.run(
        [sys.executable, "-c", _LINT, str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


def test_import_contract_check_can_fail(tmp_path: Path) -> None:
    """The contract check really checks: a config forbidding what planner does import fails."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["planner"]\ninclude_external_packages = true\n'
        '[[tool.importlinter.contracts]]\nname = "planner.solve without ortools"\n'
        'type = "forbidden"\nsource_modules = ["planner.solve"]\nforbidden_modules = ["ortools"]\n'
    )
    result = subprocess.run(
        [sys.executable, "-c", _LINT, str(config)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and "1 broken" in result.stdout, result.stdout


# Runs import-linter's use case directly: exit status 0 only when every contract is kept.
_LINT = (
    "import sys\n"
    "from importlinter.cli import lint_imports_command\n"
    "sys.argv = ['lint-imports', '--no-cache', '--config', sys.argv[1]]\n"
    "sys.exit(lint_imports_command())\n"
)


def test_help_does_not_import_heavy_modules() -> None:
    """`kerf --help` must stay fast: ortools, networkx and matplotlib are imported lazily."""
    code = (
        "import sys\n"
        "from kerf.cli.app import app\n"
        "try:\n    app(['--help'], prog_name='kerf')\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('ortools', 'networkx', 'matplotlib', 'libfdt') if m in sys.modules)\n"
        "print('HEAVY:' + ','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "HEAVY:", result.stdout


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run must run exactly the README's test command."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    blocks = readme.split("```sh\n")[1:]
    commands = [b.split("\n```", 1)[0].strip() for b in blocks]
    test_commands = [c for c in commands if "pytest" in c]
    assert test_commands, "the README has no pytest command"
    assert test_commands[0] in ci.splitlines(), f"{test_commands[0]!r} is not a line of .ci/run"
