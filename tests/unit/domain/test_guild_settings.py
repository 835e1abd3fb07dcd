import pytest

from bot.domain import sora
from bot.domain.blocklist import contains_blocked, normalise
from bot.domain.guild_settings import GuildSettings, refusal, shape_arguments
from bot.fal.errors import refusal_sentence
from bot.storage.settings import SettingsStore


@pytest.mark.parametrize(
    ("prompt", "terms", "blocked"),
    [
        ("A CAT on a mat", ["cat"], True),
        ("a category of things", ["cat"], False),  # whole words only
        ("the Café is open", ["cafe"], True),  # accents folded
        ("the cafe is open", ["Café"], True),
        ("Red  Hat in the rain", ["red hat"], True),  # phrases, spaces collapsed
        ("red-hat", ["red hat"], True),
        ("redhat", ["red hat"], False),
        ("ÉCOLE", ["ecole"], True),
        ("nothing here", [], False),
        ("straße", ["STRASSE"], True),  # casefold, not lower
        ("a dra\u200bgon over the sea", ["dragon"], True),  # a zero-width space hides nothing
        ("a Dra\u00adg\u2060ón", ["dragon"], True),  # nor a soft hyphen or word joiner
        ("a red\u200b hat", ["red hat"], True),
    ],
)
def test_blocklist_matcher(prompt, terms, blocked):
    assert contains_blocked(prompt, terms) is blocked


def test_normalise():
    assert normalise("  Café   NOIR ") == "cafe noir"


def test_rules_refuse_before_anything_is_spent():
    pro = sora.text_to_video("p", model="sora-2-pro")
    rules = GuildSettings(allowed_channels=(10, 11), pro_role_id=5, blocklist=("dragon",))
    assert refusal(rules, pro, 12, (5,)) == "Videos are made in <#10>, <#11> in this server."
    assert "<@&5>" in refusal(rules, pro, 10, ())
    assert refusal(rules, pro, 10, (5,)) is None
    blocked = refusal(rules, sora.text_to_video("a Dragon!"), 10, ())
    assert blocked and "dragon" not in blocked.lower()  # never echoes the term


def test_arguments_follow_the_server():
    endpoint, arguments = sora.fal_call(sora.text_to_video("p"))
    shaped = shape_arguments(
        GuildSettings(snapshot="sora-2-2025-10-06", ip_block=True, remixable=False), endpoint, arguments
    )
    assert shaped["model"] == "sora-2-2025-10-06" and shaped["detect_and_block_ip"] is True
    assert shaped["delete_video"] is True
    pro_endpoint, pro_arguments = sora.fal_call(sora.text_to_video("p", model="sora-2-pro"))
    assert "model" not in shape_arguments(GuildSettings(snapshot="sora-2-2025-10-06"), pro_endpoint, pro_arguments)
    assert shape_arguments(GuildSettings(), endpoint, arguments)["delete_video"] is False
    assert "detect_and_block_ip" not in shape_arguments(GuildSettings(), endpoint, arguments)


def test_ip_refusals_are_explained():
    detail = [{"loc": ["body", "prompt"], "msg": "Detected intellectual property reference", "type": "value_error"}]
    assert "intellectual property" in refusal_sentence(detail)


async def test_settings_are_stored_and_audited(database):  # on SQLite and PostgreSQL (tests/pg.py)
    settings = SettingsStore(database, clock=lambda: 5.0)
    assert await settings.get(1) == GuildSettings()
    await settings.change(1, 9, "channels_add", allowed_channels=(3, 4))
    await settings.change(1, 9, "remixable", remixable=False)
    assert await settings.block(1, 9, "Dragón") is True
    assert await settings.block(1, 9, "dragon") is False  # same term once folded
    rules = await settings.get(1)
    assert rules.allowed_channels == (3, 4) and rules.remixable is False and rules.blocklist == ("dragon",)
    assert await settings.unblock(1, 9, "DRAGON") is True
    async with database.reading() as session:
        audit = [
            (r["actor_id"], r["action"])
            for r in await session.fetch_all("SELECT actor_id, action FROM settings_audit ORDER BY id")
        ]
    assert audit == [
        (9, "channels_add"),
        (9, "remixable"),
        (9, "blocklist_add"),
        (9, "blocklist_add"),
        (9, "blocklist_remove"),
    ]
    with pytest.raises(ValueError):
        await settings.change(1, 9, "x", owner_id=1)
