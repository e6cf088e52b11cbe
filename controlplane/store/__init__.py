"""The store: SQLAlchemy 2 over SQLite (embedded default, WAL) or PostgreSQL. The schema exists only through
Alembic migrations; ``tables`` describes it for queries and is checked against the migrations by a test."""
