"""The worker's state tables read a customer's state from either store Faust offers (RocksDB by default, memory for tests)."""

from __future__ import annotations

import faust
import pytest

from events.customer import fold
from events.jsonlines import parse_event
from events.state_codec import encode_state
from processors.state_table import StateTables, TableStates
from tests.builders import person


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_a_new_customer_has_no_state_and_a_stored_one_is_read_back(store, tmp_path):
    app = faust.App(f"state-table-{store[:6]}", broker="kafka://127.0.0.1:1", store=store, datadir=str(tmp_path))
    tables = StateTables.create(app, "intake", 3)
    anna = fold([parse_event(person("C-1"))])
    with tables.in_partition(1):
        tables.states[b"C-1"] = encode_state(anna)

    states = TableStates(tables)
    states.partition = 1
    assert states.get("C-2") is None
    assert states.get("C-1") == anna
