"""One-time set-up of the sweep's PostgreSQL database, before the first job array.

    export SWEEP_DB=postgresql://sweeps:choose-a-password@db-host:5432/sweeps   # what every job will use
    SWEEP_DB_ADMIN=postgresql://postgres:admin-password@db-host:5432/postgres python examples/slurm/setup_db.py

With SWEEP_DB_ADMIN (a role allowed to create roles and databases), creates the role and the database named in
$SWEEP_DB if they are missing. Then creates Optuna's tables in $SWEEP_DB, so the array tasks that start
together do not race to create them. Safe to run again. Run it from any machine that reaches the database
(a login node), with the project installed: pip install -e ".[postgres]". Passwords are never printed.
"""
from __future__ import annotations

import os
import sys

from sqlalchemy.engine import make_url

from common.cli import run_main
from common.errors import UserError
from sweep.storage import mask, scrub


def create_role_and_database(admin: str, target) -> None:
    import psycopg
    from psycopg import sql

    conninfo = make_url(admin).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (target.username,)).fetchone() is None:
            connection.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(target.username), sql.Literal(target.password)))
            print(f"created role {target.username}")
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)).fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(target.database), sql.Identifier(target.username)))
            print(f"created database {target.database}")


def setup() -> int:
    url, admin = os.environ.get("SWEEP_DB", ""), os.environ.get("SWEEP_DB_ADMIN", "")
    if not url.startswith("postgresql"):
        raise UserError("set SWEEP_DB=postgresql://user:password@host:port/database")
    try:
        target = make_url(url)
        if admin:
            create_role_and_database(admin, target)
        import optuna

        optuna.storages.RDBStorage(url)  # creates the tables (idempotent)
    except Exception as error:  # noqa: BLE001 - one line, passwords masked
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        for secret in filter(None, (url, admin)):
            message = scrub(message, secret)
        raise UserError(f"{type(error).__name__}: {message}") from None
    print(f"ready: {mask(url)}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(setup))
