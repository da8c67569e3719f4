"""The tests' throw-away PostgreSQL needs only Python packages: the server binaries come from the pgserver wheel."""
from __future__ import annotations

import importlib.util

import psycopg
import pytest

import postgres_server
from postgres_server import PASSWORD


def test_server_from_the_pgserver_wheel_accepts_only_the_password():
    assert postgres_server.wheel_binaries() is not None, "pip install -e '.[dev]' installs pgserver"
    assert postgres_server.binaries() == postgres_server.wheel_binaries()  # preferred over a system install
    with postgres_server.postgres_server() as url:
        with psycopg.connect(url) as connection:
            version = connection.execute("show server_version_num").fetchone()[0]
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(url.replace(PASSWORD, "wrong"))
    assert int(version) >= 150000
    with pytest.raises(psycopg.OperationalError):  # stopped on exit
        psycopg.connect(url, connect_timeout=2)


def test_without_the_wheel_the_system_binaries_are_used(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert postgres_server.wheel_binaries() is None
    assert postgres_server.binaries() == postgres_server.system_binaries()
