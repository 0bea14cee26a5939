"""Persistence behind the :class:`Store` protocol; the embedded SQLite store is the default."""

from facewarden.store.base import (
    AliasRow,
    ApiKeyRow,
    FaceRow,
    PhotoRow,
    Reader,
    SessionRow,
    Store,
    SubjectRow,
    TemplateRow,
    Transaction,
    UserRow,
    WatchlistRow,
)
from facewarden.store.sqlite import DB_NAME, SqliteStore, open_sqlite

__all__ = [
    "DB_NAME",
    "AliasRow",
    "ApiKeyRow",
    "FaceRow",
    "PhotoRow",
    "Reader",
    "SessionRow",
    "SqliteStore",
    "Store",
    "SubjectRow",
    "TemplateRow",
    "Transaction",
    "UserRow",
    "WatchlistRow",
    "open_sqlite",
]
