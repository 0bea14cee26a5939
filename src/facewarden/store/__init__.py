"""Persistence behind the :class:`Store` protocol; the embedded SQLite store is the default.

Where things live (every query is written once, for both backends):

* the contract: ``base.py`` (subjects, faces, watchlists, audit), ``access.py``,
  ``cameras.py``, ``desk.py``;
* the queries: ``_read.py`` and ``_write.py`` (those of ``base.py``; their
  classes are the whole reader and transaction), ``_access_sql.py``,
  ``_camera_sql.py``, ``_desk_sql.py``, each over ``_queries.py`` (running
  SQL; a row dataclass's fields are its table's columns) and ``_dialect.py``
  (what differs: parameter marks, times, exceptions, which values come back
  as they are); ``_sqlite_read.py`` only keeps the name the unchanged
  contract suite imports ``ts_text`` by;
* the schema: ``migrations.py`` (one numbered sequence, applying it, and
  reading a database's version, for the stores and the archive restores);
* the stores: ``_store_base.py`` (what both do alike), ``sqlite.py`` (WAL,
  checkpoints, secure delete), ``postgres.py``;
* PostgreSQL only: ``_pg_schema.py`` (its types and pgvector DDL),
  ``_pg_vectors.py`` (pgvector search), ``_pg_admin.py`` (connecting, the
  server check, migration lock), ``pg_archive.py`` (whole copies: backup,
  the archive's tables), ``pg_claims.py`` (advisory-lock camera claims),
  ``pg_local.py`` and ``_pg_embedded.py`` (facewarden's own server).
"""

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
