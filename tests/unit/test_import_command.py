"""What `registervard import` makes of each row once the register has been asked: the status in the result file, the
counts and the messages (registervard/commands/importer.py, without a broker or a database)."""

from __future__ import annotations

from events.refusal import Refusal
from registervard import importing
from registervard.commands.importer import _result_of, _Tally
from registervard.import_results import RowStatus

REFUSAL = Refusal("protected", "a protected identity without name ... can only match a customer the register has", "NOT_IN_REGISTER")


def test_a_protected_identity_without_name_is_unchanged_when_the_register_has_it_and_rejected_when_not():
    row = importing.ReferenceRow(5, "K-7", "198112189876", REFUSAL)
    tally = _Tally()
    known = _result_of(row, {"K-7"}, {}, None, tally)
    assert (known.status, known.customer_id, tally.known, tally.rejected) == (RowStatus.UNCHANGED, "K-7", 1, 0)
    unknown = _result_of(row, set(), {}, None, tally)
    assert (unknown.status, unknown.messages, tally.rejected) == (RowStatus.REJECTED, (f"{REFUSAL} [NOT_IN_REGISTER]",), 1)
    assert tally.messages == [f"line 5: {REFUSAL} [NOT_IN_REGISTER]"]


def test_a_row_whose_person_the_register_has_under_another_id_is_unchanged_with_that_id():
    row = importing.ReferenceRow(6, "K-8", "198112189876", REFUSAL)
    result = _result_of(row, set(), {6: "C-0123456789abcdef"}, None, _Tally())
    assert (result.status, result.customer_id) == (RowStatus.UNCHANGED, "C-0123456789abcdef")
    assert result.messages == ("identity_number: the register already has this person as C-0123456789abcdef; not published [ALREADY_REGISTERED]",)


def test_the_messages_printed_are_bounded_and_the_rest_counted():
    tally = _Tally()
    tally.say(f"line {n}: x" for n in range(1500))
    assert (len(tally.messages), tally.unlisted) == (1000, 500)
