"""Alert and action stores behind one interface (base.Store): SQLite by default.

open_store(config) picks the backend from [log_pipeline.storage] and wraps it in a spool,
so a write that fails is kept on disk and replayed when the backend is back.
"""

from __future__ import annotations

from ironpost.core.config import Config
from ironpost.core.config.sections.fleet import node_id_of
from ironpost.storage.base import Store
from ironpost.storage.spool import SpoolingStore


def open_store(config: Config) -> SpoolingStore:
    st = config.section("log_pipeline.storage")
    if st.postgres_url:
        from ironpost.storage.postgres import PostgresStore  # optional backend, added by the log pipeline

        inner: Store = PostgresStore(st.postgres_url, node=node_id_of(config))
    else:
        from ironpost.storage.sqlite import SqliteStore

        inner = SqliteStore(config.resolve_path("log_pipeline.storage", "sqlite_path", "ironpost.db"), node=node_id_of(config))
    return SpoolingStore(inner, config.data_dir / "spool", max_bytes=st.spool_max_bytes)


__all__ = ["Store", "SpoolingStore", "open_store"]
