"""The kinds of protected identity in force (`CustomerState.protections`), as the one fold keeps them: each
ProtectedIdentitySet adds its kind, and ProtectedIdentityLifted (which names no kind) ends every one."""

from __future__ import annotations

from datetime import UTC, datetime

from events.catalog import Protection
from events.customer import CustomerState, fold
from events.jsonlines import parse_event
from events.state_codec import decode_state, encode_state
from tests.builders import line, person

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def folded(*documents) -> CustomerState:
    """Anna, registered; then `documents` (each its own event: ids are derived from content)."""
    state = fold([parse_event(d, now=NOW) for d in (person(), *documents)])
    assert state is not None
    return state


def protection(kind: str, at: str = "2025-02-01T09:00:00Z") -> dict:
    return line("ProtectedIdentitySet", protection=kind, occurred_at=at)


def test_each_protection_set_adds_its_kind_and_the_customer_is_protected_while_any_is_in_force():
    assert folded().protections == frozenset() and not folded().protected
    spar = folded(protection("SKYDDAD_FOLKBOKFORING"))
    assert spar.protections == {Protection.SKYDDAD_FOLKBOKFORING} and spar.protected
    both = folded(protection("SKYDDAD_FOLKBOKFORING"), protection("OTHER", "2025-03-01T09:00:00Z"))
    assert both.protections == {Protection.SKYDDAD_FOLKBOKFORING, Protection.OTHER} and both.protected
    assert decode_state(encode_state(both)) == both  # the stored state keeps the kinds


def test_a_lift_names_no_kind_so_it_ends_every_protection_and_a_later_one_starts_afresh():
    lift = line("ProtectedIdentityLifted", occurred_at="2025-04-01T09:00:00Z")
    lifted = folded(protection("SEKRETESSMARKERING"), protection("OTHER", "2025-03-01T09:00:00Z"), lift)
    assert lifted.protections == frozenset() and not lifted.protected
    again = folded(protection("SEKRETESSMARKERING"), lift, protection("OTHER", "2025-05-01T09:00:00Z"))
    assert again.protections == {Protection.OTHER}


def test_the_same_protection_delivered_twice_is_one_kind_in_force():
    assert folded(protection("OTHER"), protection("OTHER")).protections == {Protection.OTHER}
