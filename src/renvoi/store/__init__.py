"""Storage: SQLAlchemy 2 (Core on the request path), Alembic migrations; SQLite or PostgreSQL.

Modules: ``database`` (engines, transactions, error mapping), ``models`` (the schema),
``accounts`` and ``numbers`` (the operations), ``records`` (what they return),
``migrate`` (schema upgrades). Business rules are ``renvoi.domain``'s: this package
reads and writes state and calls the domain to decide.
"""
