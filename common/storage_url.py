"""Storage URLs: SQLite paths made absolute, passwords masked before anything is printed or written."""
from __future__ import annotations

import re
from pathlib import Path

SQLITE_PREFIX = "sqlite:///"


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of an SQLite file, with an absolute path (launchers and notebooks run elsewhere)."""
    return f"{SQLITE_PREFIX}{Path(path).resolve()}"


def sqlite_path(url: str) -> Path | None:
    """The database file of an SQLite URL; None for other URLs (and in-memory SQLite)."""
    if not url.startswith(SQLITE_PREFIX) or url[len(SQLITE_PREFIX):] in ("", ":memory:"):
        return None
    return Path(url[len(SQLITE_PREFIX):])


def normalize(storage: str) -> str:
    """A URL, or a plain path to an SQLite file, as a URL whose SQLite path (if any) is absolute."""
    if "://" not in storage:
        return sqlite_url(storage)
    path = sqlite_path(storage)
    return sqlite_url(path) if path is not None else storage


def mask(url: str) -> str:
    """The URL with its password (if any) replaced by ***; safe to print."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL: mask the user:password@ part by hand
        return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def password(url: str) -> str | None:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).password
    except Exception:  # noqa: BLE001
        return None


def scrub(text: str, url: str) -> str:
    """`text` with the URL and its password masked (for error messages built from driver exceptions)."""
    text = text.replace(url, mask(url))
    secret = password(url)
    return text.replace(str(secret), "***") if secret else text
