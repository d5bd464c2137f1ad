"""The PostgreSQL read model: migrations, projection writes, and the queries behind lists."""
