"""SQLite: the connection, migrations and every SQL statement, one module per aggregate."""
