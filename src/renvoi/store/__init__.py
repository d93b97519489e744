"""Storage: SQLAlchemy 2 (Core on the request path), Alembic migrations; SQLite or PostgreSQL.

``database`` opens the store and runs its transactions (with ``driver``, ``sqlite``,
``pgpool`` and ``failures`` beneath it); ``models`` is the schema, ``migrate`` its
upgrades; ``accounts``, ``numbers``, ``forwarding``, ``calls``, ``calllog`` and
``voicemail`` are the operations, returning ``records``; ``statecache`` and
``groupcommit`` serve the request path. Business rules are ``renvoi.domain``'s: this
package reads and writes state and calls the domain to decide.
"""
