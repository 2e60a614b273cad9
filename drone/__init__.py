"""Drones: MAVLink telemetry, geo-referencing, WHIP video ingest, pilot publisher, simulator.

Empty until the drone issues land; the package exists so the layout of DESIGN.md holds.
"""

__all__: list[str] = []
