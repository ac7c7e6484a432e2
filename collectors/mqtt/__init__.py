"""MQTT input: see README.md in this folder and sample.toml.

Importing this package loads the settings only; `MqttDriver` and the payload parser load
paho when first used (`pilotproof agent check` never does).
"""

from typing import TYPE_CHECKING

from collectors.mqtt.plugin import MQTT
from collectors.mqtt.settings import MqttSource, MqttSubscription, check_topic_template
from telemetry.lazy import lazy_exports

if TYPE_CHECKING:
    from collectors.mqtt.driver import MqttDriver
    from collectors.mqtt.parse import PayloadError, PayloadParser, subscription_filter

__getattr__ = lazy_exports(
    __name__, driver="MqttDriver", parse="PayloadError PayloadParser subscription_filter"
)


__all__ = [
    "MQTT",
    "MqttDriver",
    "MqttSource",
    "MqttSubscription",
    "PayloadError",
    "PayloadParser",
    "check_topic_template",
    "subscription_filter",
]
