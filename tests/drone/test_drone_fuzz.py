"""Bad input never crashes a link or corrupts vehicle state (hypothesis).

Random and truncated bytes, flipped bits (wrong CRCs), unknown message ids and absurd
values (latitude 900°, NaN) go through the same :meth:`Receiver.feed` the link thread
calls. Afterwards the state holds only physical values, and good packets still decode.
"""

from __future__ import annotations

import math
import struct

from dronehelp import T0, Encoder, flight, new_receiver, sim
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drone.receiver import Receiver
from drone.signing import SigningKey

GOOD = flight(sim(), 2.0)
KEY = SigningKey.from_text("fuzz key")
SIGNED = flight(sim(key=KEY), 1.0)
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def assert_sane(r: Receiver) -> None:
    for s in r.samples(T0 + 100):
        assert s.lat is None or -90 <= s.lat <= 90
        assert s.lon is None or -180 <= s.lon <= 180
        for name in ("alt_amsl_m", "alt_rel_m", "roll_deg", "pitch_deg", "yaw_deg",
                     "groundspeed_ms", "heading_deg", "gimbal_roll_deg", "gimbal_pitch_deg",
                     "gimbal_yaw_deg", "hfov_deg", "vfov_deg", "battery_v"):
            value = getattr(s, name)
            assert value is None or math.isfinite(value), (name, value)
        assert s.battery_pct is None or 0 <= s.battery_pct <= 100
        assert s.heading_deg is None or 0 <= s.heading_deg <= 360
        assert s.gps_fix is None or 0 <= s.gps_fix <= 8
        assert s.hfov_deg is None or 0 < s.hfov_deg < 180


def still_works(r: Receiver) -> None:
    """After any garbage, a clean heartbeat and position from a new system decode."""
    enc = Encoder(system=77)
    assert r.feed(enc.heartbeat(), T0) == 1
    assert r.feed(enc.position(10.0, 20.0), T0) == 1
    s = next(x for x in r.samples(T0) if x.system_id == 77)
    assert (s.lat, s.lon) == (10.0, 20.0)


@FUZZ
@given(chunks=st.lists(st.binary(max_size=400), max_size=20), datagrams=st.booleans())
def test_random_bytes(chunks, datagrams):
    r = new_receiver(datagrams=datagrams)
    for chunk in chunks:
        r.feed(chunk, T0)
    assert_sane(r)
    if not datagrams:
        r.feed(b"\x00" * 300, T0)  # flush a partial packet left in the stream buffer
    still_works(r)


@FUZZ
@given(data=st.data(), datagrams=st.booleans())
def test_mangled_real_traffic(data, datagrams):
    r = new_receiver(datagrams=datagrams)
    packets = data.draw(st.lists(st.sampled_from(GOOD), min_size=1, max_size=30))
    for p in packets:
        mangled = bytearray(p)
        how = data.draw(st.sampled_from(["truncate", "flip", "splice", "intact", "msgid"]))
        if how == "truncate":
            mangled = mangled[:data.draw(st.integers(0, len(mangled) - 1))]
        elif how == "flip":
            i = data.draw(st.integers(0, len(mangled) - 1))
            mangled[i] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "splice":
            mangled = bytearray(data.draw(st.binary(max_size=30))) + mangled
        elif how == "msgid" and len(mangled) > 10:
            mangled[7:10] = data.draw(st.binary(min_size=3, max_size=3))
        r.feed(bytes(mangled), T0)
    assert_sane(r)
    stats = r.snapshot_stats()
    assert stats.packets <= len(packets)
    if not datagrams:
        r.feed(b"\x00" * 300, T0)
    still_works(r)


_F32 = st.floats(width=32, allow_nan=True, allow_infinity=True)
_I32 = st.integers(-2**31, 2**31 - 1)


@FUZZ
@given(lat=_I32, lon=_I32, alt=_I32, rel=_I32, hdg=st.integers(0, 65535),
       roll=_F32, pitch=_F32, yaw=_F32, q=st.lists(_F32, min_size=4, max_size=4),
       battery=st.integers(-128, 127), fix=st.integers(0, 255), hfov=_F32, vfov=_F32,
       gs=_F32)
def test_absurd_values(lat, lon, alt, rel, hdg, roll, pitch, yaw, q, battery, fix, hfov,
                       vfov, gs):
    r = new_receiver()
    enc = Encoder()
    m = enc.mav
    r.feed(enc.heartbeat(), T0)
    for msg in (
        m.global_position_int_encode(0, lat, lon, alt, rel, 0, 0, 0, hdg),
        m.attitude_encode(0, roll, pitch, yaw, 0, 0, 0),
        m.gimbal_device_attitude_status_encode(0, 0, 0, 32, q, 0, 0, 0, 0),
        m.mount_orientation_encode(0, roll, pitch, yaw, yaw),
        m.sys_status_encode(0, 0, 0, 0, 12000, 0, battery, 0, 0, 0, 0, 0, 0),
        m.gps_raw_int_encode(0, fix, lat, lon, alt, 100, 100, 0, 0, 10),
        m.camera_fov_status_encode(0, 0, 0, 0, 0, 0, 0, q, hfov, vfov),
        m.camera_information_encode(0, [0] * 32, [0] * 32, 0, hfov, vfov, hfov, 1920, 1080,
                                    0, 0, 0, b""),
        m.vfr_hud_encode(0, gs, 0, 0, 0, 0),
    ):
        try:
            packet = enc.pack(msg)
        except struct.error:
            continue  # not encodable: cannot arrive either
        r.feed(packet, T0)
    assert_sane(r)
    still_works(r)


@FUZZ
@given(data=st.data())
def test_mangled_signed_traffic_never_gets_through(data):
    r = new_receiver(key=KEY)
    packets = data.draw(st.lists(st.sampled_from(SIGNED), min_size=1, max_size=10))
    for p in packets:
        mangled = bytearray(p)
        i = data.draw(st.integers(0, len(mangled) - 1))
        mangled[i] ^= 1 << data.draw(st.integers(0, 7))
        r.feed(bytes(mangled), T0)
    # Any change anywhere (header, payload, CRC, signature) loses the packet.
    assert r.stats.packets == 0
    assert_sane(r)
