"""The MQTT ingest on its own, against the session's real broker."""

from __future__ import annotations

from waiting import until

from sensors.mqtt import BrokerSettings, Delivery, MqttIngest
from sensors.sim import publish


async def test_a_batch_the_handler_fails_is_delivered_again(broker, caplog):
    calls: list[list[Delivery]] = []

    async def handle(batch: list[Delivery]) -> None:
        calls.append(batch)
        if len(calls) == 1:
            raise OSError("disk full")  # nothing committed: must not be acknowledged

    ingest = MqttIngest(BrokerSettings("127.0.0.1", broker.port, "test-handler-fails",
                                       reconnect_max_s=0.2), ["test/redelivery"], handle)
    await ingest.start()
    try:
        await until(lambda: ingest.connected.is_set(), "connected")
        await publish(broker.port, [("test/redelivery", b"7")])
        await until(lambda: len(calls) >= 2, "the reading delivered again")
        assert [d.payload for d in calls[0]] == [b"7"]
        assert [d.payload for d in calls[1]] == [b"7"]
        assert "mqtt: readings not stored: disk full" in caplog.text
        assert ingest.connects == 2  # it reconnected to be sent the batch again
    finally:
        await ingest.stop()
        await ingest.stop()  # twice is safe
