"""Pure domain: the language of the brief, with no Temporal, FastAPI or asyncpg in it."""
