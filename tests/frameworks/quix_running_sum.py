"""A Quix Streams app for tests/frameworks/test_quixstreams.py: a running sum per account.

Run with the Quix venv's Python (tests/frameworks/install_quixstreams.sh), not .venv's:

    python quix_running_sum.py BOOTSTRAP GROUP IN_TOPIC OUT_TOPIC STATE_DIR GUARANTEE COUNT

An Application reads JSON payments ``{"account", "amount"}`` keyed by account into a
StreamingDataFrame; a stateful ``apply`` adds each amount to the account's total in
its State (RocksDB, with a changelog topic per store) and the row, total added, goes
to OUT_TOPIC. It stops after COUNT outputs (``Application.run(count=...)``), or when
nothing new arrived for 30 s, whichever is first.
"""

from __future__ import annotations

import sys

from quixstreams import Application, State


def add_to_total(payment: dict, state: State) -> dict:
    total = state.get("total", 0) + payment["amount"]
    state.set("total", total)
    return {**payment, "total": total}


def main(bootstrap: str, group: str, source: str, sink: str, state_dir: str, guarantee: str, count: str) -> None:
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        processing_guarantee=guarantee,
        commit_interval=0.5,
        # librdkafka's defaults (45 s session) would make a rebalance slow to settle
        consumer_extra_config={"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
        loglevel="INFO",
    )
    payments = app.topic(source, value_deserializer="json", key_deserializer="str")
    totals = app.topic(sink, value_serializer="json", key_serializer="str")
    sdf = app.dataframe(payments)
    sdf = sdf.apply(add_to_total, stateful=True)
    sdf.to_topic(totals)
    app.run(count=int(count), timeout=30.0)


if __name__ == "__main__":
    main(*sys.argv[1:])
