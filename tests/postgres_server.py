"""A throw-away PostgreSQL server for tests: initdb into a temp dir, TCP on a free port, password auth.

The server binaries come from the `pgserver` wheel (installed by the `dev` extra), else from a system
installation (`/usr/lib/postgresql/*/bin`, or `initdb` on PATH). initdb refuses to run as root, so under root the
server runs as the unprivileged user `nobody` (with a copy of the binaries if `nobody` cannot reach them, e.g.
inside /root).
"""
from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

PASSWORD = "pg-secret-Xq93"
SERVER_USER = "nobody"  # exists on every Linux/macOS system; used only when the tests run as root


def wheel_binaries() -> Path | None:
    """`pgserver/pginstall/bin` of the installed pgserver wheel (found without importing pgserver)."""
    spec = importlib.util.find_spec("pgserver")
    for location in (spec.submodule_search_locations or []) if spec else []:
        bin_dir = Path(location) / "pginstall" / "bin"
        if (bin_dir / "initdb").exists():
            return bin_dir
    return None


def system_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def binaries() -> Path | None:
    return wheel_binaries() or system_binaries()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Server:
    """Runs the PostgreSQL commands as the current user, or as `nobody` when that is root."""

    def __init__(self, bin_dir: Path, root: Path):
        self.bin_dir, self.root = bin_dir, root
        self.user: dict = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVER_USER)
            self.user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
            os.chown(root, entry.pw_uid, entry.pw_gid)
            if not self._can_run():
                self.bin_dir = self._copy_install(root / "binaries")

    def _can_run(self) -> bool:
        try:
            return subprocess.run([str(self.bin_dir / "initdb"), "--version"], capture_output=True,
                                  cwd=self.root, **self.user).returncode == 0
        except OSError:
            return False

    def _copy_install(self, target: Path) -> Path:
        """A copy of the wheel's `pgserver/pginstall/{bin,lib,share}` and `pgserver.libs/` (the auditwheel-bundled
        libraries that the binaries find relative to themselves), readable by everyone."""
        install = self.bin_dir.parent
        package = install.parent
        copy = target / package.name / install.name
        for part in ("bin", "lib", "share"):
            if (install / part).exists():
                shutil.copytree(install / part, copy / part, symlinks=True)
        bundled = package.parent / f"{package.name}.libs"
        if bundled.is_dir():
            shutil.copytree(bundled, target / bundled.name, symlinks=True)
        for path in [target, *target.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | (0o555 if path.is_dir() or os.access(path, os.X_OK) else 0o444))
        return copy / "bin"

    def run(self, name: str, *args: str) -> None:
        done = subprocess.run([str(self.bin_dir / name), *args], capture_output=True, text=True, cwd=self.root,
                              **self.user)
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed (exit code {done.returncode}): {done.stderr.strip()[-2000:]}")


def _pg_ctl(server: _Server, data_dir: Path, port: int, action: str) -> None:
    """`pg_ctl start` (waits until it accepts connections) or `stop -m fast` (what an admin's restart does)."""
    if action == "start":
        server.run("pg_ctl", "-D", str(data_dir), "-w", "-l", str(server.root / "server.log"),
                   "-o", f"-p {port} -k {server.root} -c listen_addresses=127.0.0.1 -c max_connections=100 "
                         "-c fsync=off", "start")
    else:
        server.run("pg_ctl", "-D", str(data_dir), "-w", "-m", "fast", "stop")


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
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries not found: pip install -e '.[dev]' (installs pgserver), "
                           "or install PostgreSQL")
    root = Path(tempfile.mkdtemp(prefix="vae-sweeps-pg-"))
    data_dir, password_file = root / "data", root / "pwfile"
    try:
        server = _Server(bin_dir, root)
        password_file.write_text(PASSWORD + "\n")
        if server.user:
            os.chown(password_file, server.user["user"], server.user["group"])
        port = _free_port()
        server.run("initdb", "-D", str(data_dir), "-U", "postgres", "--auth=scram-sha-256", "--no-sync",
                   f"--pwfile={password_file}")
        try:
            _pg_ctl(server, data_dir, port, "start")
            yield ServerURL(f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres", server, data_dir, port)
        finally:
            if (data_dir / "postmaster.pid").exists():
                server.run("pg_ctl", "-D", str(data_dir), "-m", "immediate", "-w", "stop")
    finally:
        time.sleep(0.2)
        shutil.rmtree(root, ignore_errors=True)
