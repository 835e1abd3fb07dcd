import pytest

from bot.storage.sqlite import SqliteDatabase


@pytest.fixture
async def database(tmp_path):
    database = await SqliteDatabase.open(tmp_path / "sub" / "bot.sqlite3")
    yield database
    await database.close()
