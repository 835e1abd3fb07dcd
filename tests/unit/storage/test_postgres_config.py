"""DATABASE_URL: PostgreSQL when set, the SQLite file of DATABASE_PATH otherwise; never echoed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.config import StorageSettings, describe_error


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> StorageSettings:
    for name in ("DATABASE_URL", "DATABASE_POOL_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return StorageSettings(_env_file=None)  # type: ignore[call-arg]


def test_without_database_url_the_sqlite_file_is_used(monkeypatch):
    settings = _settings(monkeypatch)
    assert settings.database_url is None and settings.database_engine == "sqlite"
    assert _settings(monkeypatch, DATABASE_URL="  ").database_engine == "sqlite"  # left blank in .env


@pytest.mark.parametrize("url", ["postgresql://bot:pw@db:5432/sora", "postgres://bot@db/sora"])
def test_a_postgresql_url_selects_postgresql(monkeypatch, url):
    settings = _settings(monkeypatch, DATABASE_URL=url, DATABASE_POOL_SIZE="3")
    assert settings.database_engine == "postgresql" and settings.database_pool_size == 3
    assert settings.database_url is not None and settings.database_url.get_secret_value() == url
    assert "pw@" not in repr(settings)


@pytest.mark.parametrize(
    "url", ["mysql://bot:hunter2-secret@db/sora", "sqlite:///hunter2-secret.db", "hunter2-secret", "postgresql://"]
)
def test_another_url_is_one_line_naming_the_variable_without_its_value(monkeypatch, url):
    with pytest.raises(ValidationError) as caught:
        _settings(monkeypatch, DATABASE_URL=url)
    line = describe_error(caught.value)
    assert "DATABASE_URL" in line and "postgresql://" in line
    assert "hunter2-secret" not in line and "\n" not in line
