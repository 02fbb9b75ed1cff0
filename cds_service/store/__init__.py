"""After the cards: the audit trail, feedback and suppression, in SQL with Alembic migrations."""
