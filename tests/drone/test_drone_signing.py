"""MAVLink 2 signing: only correctly signed packets pass; the rest are counted and
dropped; the key never shows."""

from __future__ import annotations

import hashlib
import logging

import pytest
from dronehelp import T0, Encoder, feed_all, flight, new_receiver, sim

from drone.signing import SignatureCheck, SigningKey, Verdict, now_timestamp
from fieldkit.errors import ConfigError

KEY = SigningKey.from_text("correct horse battery staple")
OTHER = SigningKey.from_text("another key entirely")


def test_key_from_hex_or_passphrase():
    hexkey = "ab" * 32
    assert SigningKey.from_text(hexkey).secret == bytes.fromhex(hexkey)
    assert SigningKey.from_text(" pass \n").secret == hashlib.sha256(b"pass").digest()
    with pytest.raises(ConfigError, match="the MAVLink signing key is empty"):
        SigningKey.from_text("  ")


def test_key_never_shows_in_repr_str_or_errors(tmp_path):
    key = SigningKey.from_text("ab" * 32)
    assert "ab" not in repr(key)
    assert "ab" not in str(key)
    assert repr(key) == "SigningKey(<secret>)"
    missing = tmp_path / "nokey"
    with pytest.raises(ConfigError, match=f"cannot read signing key file {missing}"):
        SigningKey.from_file(missing)
    bad = tmp_path / "bin"
    bad.write_bytes(b"\xff\xfe secret-ish")
    with pytest.raises(ConfigError) as info:
        SigningKey.from_file(bad)
    assert "secret" not in str(info.value)


def test_only_signed_packets_are_accepted():
    r = new_receiver(key=KEY)
    signed = flight(sim(key=KEY), 2.0)
    unsigned = flight(sim(system_id=2), 2.0)
    wrong = flight(sim(system_id=3, key=OTHER), 2.0)
    assert feed_all(r, signed) == len(signed)
    assert feed_all(r, unsigned) == 0
    assert feed_all(r, wrong) == 0
    stats = r.snapshot_stats().signing
    assert stats is not None
    assert (stats.accepted, stats.unsigned, stats.bad_signature, stats.replayed) == (
        len(signed), len(unsigned), len(wrong), 0)
    assert sorted(r.vehicles) == [1]


def test_replayed_packets_are_dropped():
    r = new_receiver(key=KEY)
    packets = flight(sim(key=KEY), 1.0)
    assert feed_all(r, packets) == len(packets)
    assert feed_all(r, packets) == 0
    assert r.stats.signing is not None
    assert r.stats.signing.replayed == len(packets)


def test_tampered_packet_is_a_bad_signature():
    r = new_receiver(key=KEY)
    enc = Encoder(key=KEY)
    r.feed(enc.heartbeat(), T0)
    packet = bytearray(enc.position(21.0, 39.0))
    packet[12] ^= 0x01  # payload bit (the CRC still matches nothing: check order matters)
    assert r.feed(bytes(packet), T0) == 0
    assert r.stats.signing is not None
    assert r.stats.signing.bad_signature == 1


def test_forged_future_timestamp_does_not_lock_out_the_real_sender():
    # pymavlink records a stream's timestamp before checking the signature; a forged
    # packet with a far-future timestamp would then make every real packet "old".
    check = SignatureCheck(KEY)
    enc = Encoder(system=1, component=1, key=KEY)
    real = bytearray(enc.heartbeat())
    forged = bytearray(real)
    forged[-12:-6] = (2**48 - 1).to_bytes(6, "little")
    assert check.check(forged, 1, 1, 1) is Verdict.BAD_SIGNATURE
    assert check.check(real, 1, 1, 1) is Verdict.ACCEPTED


def test_new_stream_more_than_a_minute_old_is_refused():
    enc = Encoder(key=KEY)
    enc.mav.signing.timestamp = now_timestamp() - 2 * 60 * 100_000
    check = SignatureCheck(KEY)
    assert check.check(bytearray(enc.heartbeat()), 1, 1, 1) is Verdict.REPLAYED


def test_mavlink1_is_unsigned():
    check = SignatureCheck(KEY)
    enc = Encoder()
    v1 = bytes(enc.mav.heartbeat_encode(2, 3, 129, 4, 4).pack(enc.mav, force_mavlink1=True))
    r = new_receiver(key=KEY)
    assert r.feed(v1, T0) == 0
    assert r.stats.signing is not None
    assert r.stats.signing.unsigned == 1
    assert check.check(bytearray(v1), 0, 1, 1) is Verdict.UNSIGNED


def test_key_is_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    r = new_receiver(key=KEY)
    feed_all(r, flight(sim(key=KEY), 1.0) + flight(sim(system_id=2), 1.0))
    text = caplog.text + repr(r.stats) + repr(r.snapshot_stats())
    assert KEY.secret.hex() not in text
    assert "correct horse" not in text


def test_signed_stream_with_garbage_keeps_counts_true():
    # TCP/serial: garbage holding start bytes is bad data, not "bad signatures", and the
    # signed packets behind it still get through.
    r = new_receiver(key=KEY, datagrams=False)
    good = flight(sim(key=KEY), 1.0)
    unsigned = flight(sim(system_id=2), 0.5)
    noise = bytes([0xFD, 40, 1, 0, 0, 1, 1, 0, 0, 0]) + b"\xfe\x05junk" * 3
    stream = noise + b"".join(good[:20]) + b"".join(unsigned) + b"".join(good[20:])
    for i in range(0, len(stream), 50):
        r.feed(stream[i:i + 50], T0)
    stats = r.snapshot_stats()
    assert stats.packets == len(good)
    assert stats.signing is not None
    assert (stats.signing.unsigned, stats.signing.bad_signature) == (len(unsigned), 0)
    assert stats.bad_data > 0
