"""The truck's own hardware: profiles, checks, position from gpsd, health incidents,
retention and joining the fleet at provisioning time.

Code lives here, in ``fieldkit.hardware``; the repository's top-level ``hardware/``
folder holds the deployment files (profiles, systemd units, udev rules, provisioning
script, BOM), which are data, not an importable package.
"""

from __future__ import annotations

import logging

from fieldkit.hardware.checks import CheckResult, Outcome, run_checks
from fieldkit.hardware.gpsd import Fix, GpsdClient, GpsdError, PositionState, TruckPosition
from fieldkit.hardware.health import Condition, HealthAlerts, HealthMonitor, Readings, evaluate
from fieldkit.hardware.profile import Profile, ProfileError, load_profile
from fieldkit.hardware.records import prune_samples, record_position

__all__ = [
    "CheckResult",
    "Condition",
    "Fix",
    "GpsdClient",
    "GpsdError",
    "HealthAlerts",
    "HealthMonitor",
    "Outcome",
    "PositionState",
    "Profile",
    "ProfileError",
    "Readings",
    "TruckPosition",
    "evaluate",
    "load_profile",
    "prune_samples",
    "record_position",
    "run_checks",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
