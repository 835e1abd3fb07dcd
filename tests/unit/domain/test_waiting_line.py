"""The waiting line's fair order, pure: limits never exceeded, round-robin between members (whoever has
waited longest since their last start first), oldest first within a member."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.waiting_line import Waiting, order, place, to_start

MEMBERS = st.integers(min_value=1, max_value=5)


@st.composite
def lines(draw: st.DrawFn) -> tuple[list[Waiting], dict[int, int], dict[int, float]]:
    count = draw(st.integers(min_value=0, max_value=25))
    waiting = [
        Waiting(job_id, draw(MEMBERS), draw(st.integers(min_value=0, max_value=50)) * 1.0)
        for job_id in range(1, count + 1)
    ]
    running = draw(st.dictionaries(MEMBERS, st.integers(min_value=0, max_value=4)))
    last_start = draw(st.dictionaries(MEMBERS, st.floats(min_value=0, max_value=100)))
    return waiting, running, last_start


def _oldest_first(waiting: list[Waiting], user_id: int) -> list[int]:
    return [w.job_id for w in sorted(waiting, key=lambda w: (w.created_at, w.job_id)) if w.user_id == user_id]


@given(lines(), st.integers(min_value=1, max_value=4), st.integers(min_value=1, max_value=12))
def test_to_start_never_exceeds_a_limit_and_leaves_no_usable_slot(line, max_member, max_guild):
    waiting, running, last_start = line
    guild_running = sum(running.values())
    chosen = to_start(waiting, running, guild_running, max_member, max_guild, last_start)
    by_id = {w.job_id: w for w in waiting}
    assert len(chosen) == len(set(chosen)) and set(chosen) <= set(by_id)
    assert guild_running + len(chosen) <= max(max_guild, guild_running)
    started = Counter(by_id[j].user_id for j in chosen)
    for user, n in started.items():
        assert running.get(user, 0) + n <= max_member
        assert [j for j in chosen if by_id[j].user_id == user] == _oldest_first(waiting, user)[:n]  # oldest first
    if guild_running + len(chosen) < max_guild:
        # A free slot is left only when every member still waiting is at their own limit.
        for w in waiting:
            if w.job_id not in chosen:
                assert running.get(w.user_id, 0) + started[w.user_id] >= max_member


@given(lines())
def test_the_order_is_round_robin_between_members(line):
    waiting, _running, last_start = line
    line_order = order(waiting, last_start)
    by_id = {w.job_id: w for w in waiting}
    assert sorted(line_order) == sorted(by_id)
    total = Counter(w.user_id for w in waiting)
    seen: Counter[int] = Counter()
    for job_id in line_order:
        user = by_id[job_id].user_id
        # Nobody gets a second turn before every other member still waiting has had as many.
        for other, left in total.items():
            if other != user and seen[other] < left:
                assert seen[user] <= seen[other]
        seen[user] += 1
    for user in total:
        assert [j for j in line_order if by_id[j].user_id == user] == _oldest_first(waiting, user)


@given(lines())
def test_whoever_waited_longest_since_their_last_start_goes_first(line):
    waiting, _running, last_start = line
    if waiting:
        by_user = {w.job_id: w.user_id for w in waiting}
        first = by_user[order(waiting, last_start)[0]]
        members = set(by_user.values())
        assert last_start.get(first, float("-inf")) == min(last_start.get(u, float("-inf")) for u in members)


@given(lines(), st.integers(min_value=1, max_value=10))
def test_with_only_the_servers_limit_binding_it_starts_the_head_of_the_line(line, free):
    waiting, _running, last_start = line
    assert to_start(waiting, {}, 0, 1000, free, last_start) == order(waiting, last_start)[:free]


def test_two_members_alternate_and_a_newcomer_goes_first():
    alice, bob, carol = 1, 2, 3
    waiting = [Waiting(1, alice, 1.0), Waiting(2, alice, 2.0), Waiting(3, bob, 3.0), Waiting(4, bob, 4.0)]
    # Bob started a video longer ago than Alice: his turn first, then they alternate.
    assert order(waiting, {alice: 50.0, bob: 40.0}) == [3, 1, 4, 2]
    # Carol has never had a video started: she goes before both, though she asked last.
    assert order([*waiting, Waiting(5, carol, 9.0)], {alice: 50.0, bob: 40.0})[0] == 5
    # Alice at her limit: Bob's get the free slots.
    assert to_start(waiting, {alice: 2}, 2, 2, 10, {alice: 50.0, bob: 40.0}) == [3, 4]


def test_the_place_says_whose_limit_holds_it_and_how_many_go_first():
    alice, bob = 1, 2
    waiting = [Waiting(1, alice, 1.0), Waiting(2, alice, 2.0), Waiting(3, bob, 3.0)]
    # Alice has 2 in progress, her limit: her second waiting job has her first ahead of it.
    mine = place(waiting[1], waiting, {alice: 2}, 2, 2, {})
    assert (mine.member_blocked, mine.member_running, mine.ahead) == (True, 2, 1)
    # Bob is held by the server's limit: Alice's first waiting job goes before his (she waited longer).
    his = place(waiting[2], waiting, {alice: 1, bob: 1}, 10, 2, {alice: 1.0, bob: 2.0})
    assert (his.member_blocked, his.guild_running, his.ahead) == (False, 10, 1)
