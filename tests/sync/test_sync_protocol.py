"""The batch encoding, vectors and batch sizing."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldkit.identity import NodeIdentity
from sync.errors import ProtocolError
from sync.protocol import (
    MAGIC,
    decode_batch,
    encode_batch,
    encode_fitting,
    parse_vector_text,
    pending,
)

T1 = NodeIdentity.generate("T1")
T2 = NodeIdentity.generate("T2")


@pytest.fixture
def log_pair(make_log):
    return make_log(T1, T2), make_log(T2, T1)


def test_round_trip_is_exact(log_pair):
    source, _ = log_pair
    incident = source.create(title="Gate 4 crush risk", kind="crowd_density", severity=5)
    for i in range(5):
        source.add_note(incident.id, f"note {i} é ✓")
    events = source.events_since({})
    decoded = decode_batch(encode_batch(events))
    assert decoded == [e.to_wire() for e in events]


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # a new log each time
@given(texts=st.lists(st.text(  # any text a note allows: no controls but tab and newline
    st.characters(blacklist_categories=("Cc", "Cs"), whitelist_characters="\t\n"),
    min_size=1, max_size=200), min_size=1, max_size=8))
def test_any_notes_survive_the_wire(make_log, texts):
    log = make_log(NodeIdentity.generate("T9"))
    incident = log.create(title="x", kind="medical", severity=1)
    for text in texts:
        log.add_note(incident.id, text)
    events = log.events_since({})
    assert decode_batch(encode_batch(events)) == [e.to_wire() for e in events]


def test_batches_from_two_origins_apply_on_a_third(log_pair, make_log):
    a, b = log_pair
    a.create(title="a", kind="medical", severity=1)
    b.create(title="b", kind="fire", severity=2)
    b.apply(a.events_since({}))
    hq = make_log(NodeIdentity.generate("HQ"), T1, T2)
    report = hq.apply_wire(decode_batch(encode_batch(b.events_since({}))))
    assert (report.applied, report.rejected) == (2, [])


@pytest.mark.parametrize(("data", "message"), [
    (b"junk", "batch does not start with FKB1: not a fieldkit event batch"),
    (MAGIC + b"\x00\x01", "batch is corrupted: Error -3 while decompressing data: "
                          "incorrect header check"),
    (MAGIC + zlib.compress(b"\x00\x00\x00\x09{}")[:-4], "batch is truncated: the compressed "
                                                       "stream does not end"),
    (MAGIC + zlib.compress(b"\x00\x00\x00\x09{}"), "batch header claims 9 bytes, 2 present"),
    (MAGIC + zlib.compress(b"\x00\x00\x00\x02[]"), "batch header lacks its list of runs"),
])
def test_malformed_batches_say_what_is_wrong(data, message):
    with pytest.raises(ProtocolError) as caught:
        decode_batch(data)
    assert str(caught.value) == message


def test_batch_is_cut_to_fit(make_log):
    log = make_log(NodeIdentity.generate("T9"))
    incident = log.create(title="x", kind="medical", severity=1)
    for i in range(40):
        log.add_note(incident.id, f"{i} " + "".join(chr(0x4e00 + (i * 7919 + j) % 20000)
                                                    for j in range(1500)))
    events = log.events_since({})
    batch, sent = encode_fitting(events, 20_000, log.keyring)
    count = len(sent)
    assert len(batch) <= 20_000
    assert 0 < count < len(events)
    assert [e["seq"] for e in decode_batch(batch)] == list(range(1, count + 1))


def test_vectors():
    assert parse_vector_text("T01=12, HQ=3") == {"T01": 12, "HQ": 3}
    assert parse_vector_text('{"T01": 2}') == {"T01": 2}
    with pytest.raises(ProtocolError, match="vector entry 'T01' is not ORIGIN=SEQ"):
        parse_vector_text("T01")
    assert pending({"A": 5, "B": 2}, {"A": 3}, lambda o: o != "B") == 2
