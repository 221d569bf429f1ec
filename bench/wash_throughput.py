"""How many phone numbers per second the NIX wash answers, next to baselines measured in the same run.

    .venv/bin/python bench/wash_throughput.py [--customers 100000] [--rows 100000] [--repeat 3] [--json-out FILE]

A register of N customers (fold states: a phone each, NIX status of a recent
wash, a tenth NIX-registered, some override consents, deaths and opt-outs) and
a call list of M rows (numbers written as people write them; a tenth belong to
no customer) are generated in memory. Timed, best of --repeat:

* baseline_lookup: read the call list (CSV) and look each number up in a dict
  by its text, without normalising it: the least any wash must do;
* baseline_normalise_lookup: the same, normalising each number to E.164 first;
* wash: read the call list and wash it (`projections.wash.wash`: normalise,
  find the customers, `may_contact` for TELEMARKETING on PHONE, every reason;
  it decides once per number and per distinct facts, and that work is timed).

Reading the states from the register database is not included (the CLI does
it once per list: a query on `customers.phone` and the stored fold states).
Prints JSON; with --json-out also appends the figure (bench/report.py), next to
the read + normalise + dict lookup baseline. No database is involved.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import report

from events.catalog import Channel, ConsentPurpose, ContactDetails, CustomerKind
from events.contactability import load_rules
from events.customer import Consent, CustomerState, NixStatus, Status
from projections.wash import WashRow, index_by_phone, wash
from registervard.importing import normalise_phone

COMPANY = "Ringbolaget AB"


def register(customers: int, rng: random.Random, today: date) -> list[CustomerState]:
    states = []
    for i in range(customers):
        phone = f"+4670{i:07d}"
        state = CustomerState(
            customer_id=f"C-{i:07d}",
            kind=CustomerKind.PERSON,
            contact=ContactDetails(phone=phone),
            nix=(NixStatus(phone=phone, registered=rng.random() < 0.1, as_of=today - timedelta(days=rng.randint(0, 90))),),
        )
        roll = rng.random()
        if roll < 0.02:
            state = replace(state, status=Status.DECEASED, deceased_on=today - timedelta(days=30))
        elif roll < 0.04:
            state = replace(state, opted_out=frozenset({Channel.PHONE}))
        elif roll < 0.07:
            given = datetime.combine(today - timedelta(days=rng.randint(0, 120)), datetime.min.time(), UTC)
            state = replace(
                state,
                consents=(
                    Consent(
                        purpose=ConsentPurpose.TELEMARKETING, channel=Channel.PHONE, company=COMPANY, given_at=given, event_id=f"e-{i}",
                        overrides_nix=True, lapses_on=given.date() + timedelta(days=91),
                    ),
                ),
            )
        states.append(state)
    return states


def call_list(rows: int, customers: int, rng: random.Random) -> str:
    out = io.StringIO()
    out.write("Namn;Telefon\n")
    for r in range(rows):
        i = rng.randrange(customers) if rng.random() < 0.9 else customers + r  # a tenth: nobody's number
        national = f"070{i:07d}"
        written = rng.choice([f"{national[:3]}-{national[3:6]} {national[6:8]} {national[8:]}", national, f"+46 {national[1:3]} {national[3:]}"])
        out.write(f"Person {r};{written}\n")
    return out.getvalue()


def best(repeat: int, run) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json-out", default=None, help="append the figure to this JSON lines file (bench/report.py)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    today = datetime.now(UTC).date()
    at = datetime.now(UTC)
    states = register(args.customers, rng, today)
    by_phone = index_by_phone(states)
    by_text = {("0" + phone[3:]): state for phone, state in by_phone.items()}  # the baseline's dict, keyed by one written form
    text = call_list(args.rows, args.customers, rng)
    rules = load_rules()

    def rows() -> list[list[str]]:
        reader = csv.reader(io.StringIO(text), delimiter=";")
        next(reader)
        return list(reader)

    def baseline_lookup() -> int:
        return sum(1 for _, phone in rows() if by_text.get(phone) is not None)

    def baseline_normalise_lookup() -> int:
        return sum(1 for _, phone in rows() if by_phone.get(normalise_phone(phone)) is not None)

    def washing() -> list:
        return wash([WashRow(phone=phone, values={"Namn": name, "Telefon": phone}) for name, phone in rows()], by_phone, COMPANY, at, rules)

    lookup_s, _ = best(args.repeat, baseline_lookup)
    normalise_s, found = best(args.repeat, baseline_normalise_lookup)
    wash_s, results = best(args.repeat, washing)
    may_call = sum(r.may_call for r in results)
    print(
        json.dumps(
            {
                "customers": args.customers,
                "rows": args.rows,
                "rows_of_customers": found,
                "may_call": may_call,
                "baseline_lookup_numbers_per_s": round(args.rows / lookup_s),
                "baseline_normalise_lookup_numbers_per_s": round(args.rows / normalise_s),
                "wash_numbers_per_s": round(args.rows / wash_s),
                "wash_vs_normalise_lookup": round(wash_s / normalise_s, 2),
                "seconds": {"baseline_lookup": round(lookup_s, 3), "baseline_normalise_lookup": round(normalise_s, 3), "wash": round(wash_s, 3)},
            },
            indent=2,
        )
    )
    rate, baseline = args.rows / wash_s, args.rows / normalise_s
    report.write(
        args.json_out,
        [
            report.Figure(
                f"NIX wash of {args.rows // 1000}k numbers", "", round(rate), "numbers/s", round(baseline), "read + normalise + dict lookup",
                round(report.slower_by_rate(rate, baseline), 2), "100,000 numbers/s",
            )
        ],
    )


if __name__ == "__main__":
    main()
