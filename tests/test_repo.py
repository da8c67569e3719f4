"""The README's commands and CI's script stay in step."""
import re

from conftest import REPO


def readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (REPO / "README.md").read_text())[:2]


def test_ci_runs_exactly_the_readme_test_command():
    test_command = readme_commands()[1]
    assert "pytest" in test_command
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def test_readme_opens_with_install_and_main_job():
    main_job = readme_commands()[0]
    assert main_job.startswith("pip install -e .") and "python -m" in main_job
