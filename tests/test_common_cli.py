"""common.cli: the one shell of every command: exit codes, one-line errors, a reader that goes away."""
import subprocess
import sys

import pytest
from conftest import REPO

from common.cli import EXIT_INTERRUPTED, EXIT_MACHINE, EXIT_OK, EXIT_USAGE, run_main
from common.errors import MachineFault, UserError


def raising(error):
    def body():
        raise error
    return body


@pytest.mark.parametrize("error, code, line", [
    (UserError("no such study 'x'\nmore"), EXIT_USAGE, "error: no such study 'x'\n"),
    (MachineFault("disk full: /data (free space, then run again)"), EXIT_MACHINE,
     "error: disk full: /data (free space, then run again)\n"),
    (KeyboardInterrupt(), EXIT_INTERRUPTED, "interrupted\n"),
])
def test_what_a_command_raises_becomes_an_exit_code_and_one_line(capsys, error, code, line):
    assert run_main(raising(error)) == code
    assert capsys.readouterr().err == line


def test_a_reader_that_goes_away_stops_the_command_quietly(tmp_path):
    """`python -m benchmarks.suite_cpu LOG | head -1`: more output than a pipe holds, the reader closes after one line."""
    log = tmp_path / "cpu.tsv"
    log.write_text("".join(f"tests/test_{i:05d}.py::test_x\t0.1\t0.1\t0.1\n" for i in range(5000)))
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.suite_cpu", str(log)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == EXIT_OK and stderr == "", stderr
