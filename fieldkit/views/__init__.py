"""Typed views of the node's API: the pydantic models of every response (and request
body), shared by the server (:mod:`fieldkit.api` and the parts' routes) and the console's
client (:mod:`tui._client`), and the OpenAPI document made from them."""

from fieldkit.views._base import ErrorView, View, respond
from fieldkit.views.log import (
    ApplyView,
    CallView,
    CapListView,
    CapRef,
    EventView,
    GeoJsonView,
    HealthView,
    RejectionView,
)
from fieldkit.views.parts import (
    CamerasView,
    CameraView,
    DronesView,
    DroneView,
    FleetNode,
    FleetView,
    GroundPointView,
    HardwareView,
    KitView,
    LinkView,
    LiveDrone,
    LiveFeedsView,
    LiveParts,
    PeerView,
    PositionSample,
    SyncStatusView,
    TopIncident,
    WebrtcSessionView,
    WebrtcView,
    ZoneView,
)
from fieldkit.views.requests import AssignBody, LinkBody, NoteBody, StatusBody
from fieldkit.views.sensors import (
    CameraSightView,
    FleetZone,
    MqttView,
    PushView,
    SensorReadingList,
    SensorReadingView,
    SensorsView,
    SensorView,
    SensorZoneView,
    TransitView,
)

__all__ = [
    "ApplyView", "AssignBody", "CallView", "CameraSightView", "CameraView", "CamerasView",
    "CapListView", "CapRef", "DroneView", "DronesView", "ErrorView", "EventView", "FleetNode",
    "FleetView", "FleetZone", "GeoJsonView", "GroundPointView", "HardwareView", "HealthView",
    "KitView", "LinkBody", "LinkView", "LiveDrone", "LiveFeedsView", "LiveParts", "MqttView",
    "NoteBody", "PeerView", "PositionSample", "PushView", "RejectionView", "SensorReadingList",
    "SensorReadingView", "SensorView", "SensorZoneView", "SensorsView", "StatusBody",
    "SyncStatusView", "TopIncident", "TransitView", "View", "WebrtcSessionView", "WebrtcView",
    "ZoneView", "respond",
]
