"""Receiver and vehicle state: real MAVLink bytes (simulator and hand-built) decoded into
per-vehicle state."""

from __future__ import annotations

import math

import pytest
from dronehelp import T0, Encoder, feed_all, flight, new_receiver, replay, sim, timed_flight
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone.receiver import MAX_VEHICLES_PER_LINK


@pytest.mark.parametrize(("autopilot", "mode"), [("ardupilot", "GUIDED"), ("px4", "MISSION")])
def test_simulated_flight_gives_full_state(autopilot, mode):
    r = new_receiver()
    packets = timed_flight(sim(autopilot=autopilot), 6.0)
    assert replay(r, packets) == len(packets)
    (s,) = r.samples(T0 + 6)
    assert (s.vehicle, s.system_id, s.autopilot, s.mode, s.armed) == (
        "L1-1", 1, autopilot, mode, True)
    assert s.lat == pytest.approx(21.4225, abs=0.002)
    assert s.lon == pytest.approx(39.8262, abs=0.002)
    assert (s.alt_amsl_m, s.alt_rel_m) == (337.0, 60.0)
    assert s.groundspeed_ms == pytest.approx(8.0, abs=0.05)
    assert 0 <= s.heading_deg < 360
    assert s.roll_deg == pytest.approx(math.degrees(math.atan(64 / (9.80665 * 150))), abs=0.01)
    assert s.pitch_deg == pytest.approx(-3.0, abs=1e-4)
    assert s.gimbal_pitch_deg == pytest.approx(-60.0, abs=1e-3)
    assert s.gimbal_roll_deg == pytest.approx(0.0, abs=1e-3)
    # Gimbal yaw is reported in the vehicle frame (0): in the earth frame it is the heading.
    assert (s.gimbal_yaw_deg - s.yaw_deg + 180) % 360 - 180 == pytest.approx(0.0, abs=1.0)
    # CAMERA_INFORMATION: 6.17 x 3.47 mm sensor behind 4.5 mm.
    assert s.hfov_deg == pytest.approx(math.degrees(2 * math.atan(6.17 / 9.0)))
    assert s.vfov_deg == pytest.approx(math.degrees(2 * math.atan(3.47 / 9.0)))
    assert s.battery_pct == pytest.approx(95.0, abs=1)
    assert s.battery_v is not None
    assert 14 < s.battery_v < 17.5
    assert (s.gps_fix, s.satellites, s.gps_accuracy_m) == (3, 14, 2.0)
    assert s.loss_pct == 0.0
    assert s.heartbeat_age_s is not None
    assert 0 <= s.heartbeat_age_s <= 1.1


def test_rates_are_realistic():
    packets = flight(sim(), 10.0)
    r = new_receiver()
    counts: dict[str, int] = {}
    for p in packets:
        msg = r._mav.decode(bytearray(p))
        counts[msg.get_type()] = counts.get(msg.get_type(), 0) + 1
    assert counts["HEARTBEAT"] == 10
    assert counts["GLOBAL_POSITION_INT"] == 100
    assert counts["ATTITUDE"] == 250
    assert counts["GIMBAL_DEVICE_ATTITUDE_STATUS"] == 100


def test_several_vehicles_on_one_link_by_system_id():
    r = new_receiver(names={2: "D2"})
    a, b = flight(sim(system_id=1), 2.0), flight(sim(system_id=2, lat=21.43, autopilot="px4"), 2.0)
    mixed = [p for pair in zip(a, b, strict=False) for p in pair]
    feed_all(r, mixed)
    s1, s2 = r.samples(T0 + 2)
    assert (s1.vehicle, s1.autopilot) == ("L1-1", "ardupilot")
    assert (s2.vehicle, s2.autopilot) == ("D2", "px4")
    assert s2.lat == pytest.approx(21.43, abs=0.002)


def test_ground_station_and_components_are_not_vehicles():
    r = new_receiver()
    gcs = Encoder(system=255, component=190)
    gimbal = Encoder(system=1, component=154)
    r.feed(gcs.heartbeat(autopilot=mavlink.MAV_AUTOPILOT_INVALID,
                         mav_type=mavlink.MAV_TYPE_GCS), T0)
    r.feed(gimbal.heartbeat(autopilot=mavlink.MAV_AUTOPILOT_INVALID,
                            mav_type=mavlink.MAV_TYPE_GIMBAL), T0)
    r.feed(Encoder().position(21.0, 39.0), T0)  # before the autopilot's heartbeat
    assert r.vehicles == {}
    assert r.stats.not_vehicle == 3
    vehicle = Encoder()
    r.feed(vehicle.heartbeat(), T0)
    r.feed(vehicle.position(21.0, 39.0), T0)
    assert r.samples(T0)[0].lat == 21.0


def test_loss_is_counted_from_sequence_numbers():
    r = new_receiver()
    enc = Encoder()
    packets = [enc.heartbeat()] + [enc.position(21.0, 39.0) for _ in range(99)]
    kept = [p for i, p in enumerate(packets) if i % 10 != 5]  # drop 10 of 100
    feed_all(r, kept)
    (s,) = r.samples(T0)
    assert s.loss_pct == pytest.approx(10.0)
    assert r.samples(T0)[0].loss_pct is None  # the window restarts at each sample


def test_heartbeat_age_and_disarmed_state():
    r = new_receiver()
    r.feed(Encoder().heartbeat(armed=False), T0)
    (s,) = r.samples(T0 + 7.5)
    assert s.armed is False
    assert s.heartbeat_age_s == 7.5


def test_each_field_group_carries_its_own_age():
    r = new_receiver()
    enc = Encoder()
    r.feed(enc.heartbeat(), T0)
    r.feed(enc.position(21.0, 39.0, boot_ms=5_000), T0)
    r.feed(enc.battery(80), T0 + 20)
    r.feed(enc.heartbeat(), T0 + 30)
    (s,) = r.samples(T0 + 31)
    assert (s.heartbeat_age_s, s.position_age_s, s.velocity_age_s, s.battery_age_s) == (
        1.0, 31.0, 31.0, 11.0)
    assert (s.attitude_age_s, s.gps_age_s, s.gimbal_age_s) == (None, None, None)
    assert s.fresh
    assert s.session == 1
    (again,) = r.samples(T0 + 32)
    assert not again.fresh  # nothing arrived since the previous sample


@pytest.mark.parametrize(("later_boot_ms", "why"), [
    (3_000, "rebooted: the boot clock went backwards"),
    (9_000_000, "another autopilot, up for longer than the time that passed"),
    (605_000, "another autopilot whose boot clock did not advance over 30 minutes"),
])
def test_a_new_session_clears_the_previous_sessions_values(later_boot_ms, why):
    r = new_receiver()
    enc = Encoder()
    r.feed(enc.heartbeat(), T0)
    r.feed(enc.position(21.0, 39.0, boot_ms=600_000), T0)
    r.feed(enc.battery(80), T0)
    # 30 minutes later a heartbeat (it cannot tell a session), then a stamped message.
    fresh = Encoder()
    r.feed(fresh.heartbeat(armed=False), T0 + 1800)
    (s,) = r.samples(T0 + 1800)
    assert s.session == 1
    assert s.lat == 21.0
    assert s.position_age_s == 1800.0
    r.feed(fresh.attitude(boot_ms=later_boot_ms), T0 + 1801)
    (s,) = r.samples(T0 + 1801)
    assert s.session == 2, why
    assert (s.lat, s.lon, s.battery_pct, s.position_age_s, s.battery_age_s) == (
        None, None, None, None, None)
    assert s.armed is False
    assert s.heartbeat_age_s == 1.0
    assert s.attitude_age_s == 0.0
    assert s.yaw_deg == pytest.approx(90.0)
    assert s.loss_pct == 0.0  # the new sequence numbers are not counted as loss


def test_the_same_session_survives_silence_and_reordering():
    r = new_receiver()
    enc = Encoder()
    r.feed(enc.heartbeat(), T0)
    r.feed(enc.attitude(boot_ms=600_000), T0)
    r.feed(enc.attitude(boot_ms=599_000), T0 + 0.01)  # reordered on the link
    r.feed(enc.attitude(boot_ms=600_000 + 1_800_000), T0 + 1800)  # a 30 min dropout
    r.feed(enc.position(21.0, 39.0, boot_ms=600_000 + 1_800_500), T0 + 1802)  # late
    (s,) = r.samples(T0 + 1802)
    assert s.session == 1
    assert s.lat == 21.0


@pytest.mark.parametrize(("lat", "lon"), [(900.0, 39.0), (21.0, 400.0), (-91.0, 0.0)])
def test_absurd_position_is_refused_and_counted(lat, lon):
    r = new_receiver()
    enc = Encoder()
    feed_all(r, [enc.heartbeat(), enc.position(21.0, 39.0)])
    mav = enc.mav
    bad = enc.pack(mav.global_position_int_encode(
        0, max(-2**31, min(2**31 - 1, round(lat * 1e7))),
        max(-2**31, min(2**31 - 1, round(lon * 1e7))), 337000, 60000, 0, 0, 0, 0))
    r.feed(bad, T0)
    (s,) = r.samples(T0)
    assert (s.lat, s.lon) == (21.0, 39.0)
    assert r.snapshot_stats().rejected_values == 1


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 7.0])
def test_nan_or_impossible_attitude_is_refused(value):
    r = new_receiver()
    enc = Encoder()
    r.feed(enc.heartbeat(), T0)
    r.feed(enc.pack(enc.mav.attitude_encode(0, 0.1, 0.2, 0.3, 0, 0, 0)), T0)
    r.feed(enc.pack(enc.mav.attitude_encode(0, value, 0.2, 0.3, 0, 0, 0)), T0)
    (s,) = r.samples(T0)
    assert s.roll_deg == pytest.approx(math.degrees(0.1))
    assert r.snapshot_stats().rejected_values == 1


def test_unknown_message_ids_are_counted_not_applied():
    r = new_receiver()
    enc = Encoder()
    r.feed(enc.heartbeat(), T0)
    good = bytearray(enc.position(21.0, 39.0))
    good[7:10] = (0x3F, 0x42, 0x0F)  # message id 999999: no dialect defines it
    assert r.feed(bytes(good), T0) == 0
    assert r.stats.unknown == 1


def test_too_many_vehicles_are_refused():
    r = new_receiver()
    for system in range(1, MAX_VEHICLES_PER_LINK + 3):
        r.feed(Encoder(system=system).heartbeat(), T0)
    assert len(r.vehicles) == MAX_VEHICLES_PER_LINK
    assert r.stats.too_many_vehicles == 2


def test_stream_reads_are_reassembled():
    # TCP/serial: packets arrive cut anywhere; the receiver keeps the tail for the next read.
    r = new_receiver(datagrams=False)
    stream = b"".join(flight(sim(), 2.0))
    n = sum(r.feed(stream[i:i + 37], T0) for i in range(0, len(stream), 37))
    assert n == len(flight(sim(), 2.0))
    assert r.stats.bad_data == 0


def test_mavlink1_packets_are_decoded():
    r = new_receiver()
    enc = Encoder()
    v1 = bytes(enc.mav.heartbeat_encode(2, 3, 129, 4, 4).pack(enc.mav, force_mavlink1=True))
    assert r.feed(v1, T0) == 1
    assert r.samples(T0)[0].mode == "GUIDED"


def test_pose_history_feeds_time_alignment():
    r = new_receiver()
    replay(r, timed_flight(sim(), 3.0))
    v = r.vehicles[1]
    assert len(v.history) >= 60  # about 25 poses a second
    assert v.history.at(T0 + 1.234) is not None
