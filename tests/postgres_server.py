"""A throw-away PostgreSQL server for tests: initdb into a temp dir, TCP on a free port, password auth."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

PASSWORD = "pg-secret-Xq93"


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:  # initdb refuses to run as root
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


def _pg_ctl(bin_dir: Path, data_dir: Path, root: Path, port: int, action: str) -> None:
    """`pg_ctl start` (waits until it accepts connections) or `stop -m fast` (what an admin's restart does)."""
    if action == "start":
        _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-w", "-l", str(root / "server.log"),
                         "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=100",
                         "start"])
    else:
        _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-w", "-m", "fast", "stop"])


class ServerURL(str):
    """The server's URL, with `stop()` / `start()` to take the server away and bring it back (outage tests)."""

    def __new__(cls, url: str, *control):
        self = super().__new__(cls, url)
        self.control = control
        return self

    def stop(self) -> None:
        _pg_ctl(*self.control, "stop")

    def start(self) -> None:
        _pg_ctl(*self.control, "start")


@contextmanager
def postgres_server():
    """Yields a `postgresql://postgres:<password>@127.0.0.1:<port>/postgres` URL (a `ServerURL`); stops and deletes
    on exit."""
    bin_dir = _binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="vae-sweeps-pg-"))
    data_dir, password_file = root / "data", root / "pwfile"
    password_file.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(password_file, "postgres")
    port = _free_port()
    try:
        _as_server_user([str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=scram-sha-256",
                         f"--pwfile={password_file}"])
        _pg_ctl(bin_dir, data_dir, root, port, "start")
        yield ServerURL(f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres", bin_dir, data_dir, root, port)
    finally:
        if (data_dir / "postmaster.pid").exists():
            _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "stop"])
        time.sleep(0.2)
        shutil.rmtree(root, ignore_errors=True)
