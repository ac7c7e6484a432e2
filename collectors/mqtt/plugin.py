"""The MQTT driver's descriptor (see `collectors.plugin`)."""

from __future__ import annotations

from collectors.mqtt.settings import MqttSource, MqttSubscription
from collectors.plugin import DriverPlugin, each_source, register, settings_only


def _summary(s: MqttSource) -> str:
    return f"{s.url}: {len(s.subscriptions)} subscription(s)"


MQTT = register(
    DriverPlugin(
        name="mqtt",
        settings=MqttSource,
        build=each_source("collectors.mqtt.driver:MqttDriver"),
        summary=_summary,
        nested=(("subscriptions", MqttSubscription),),
        paths=("ca_file",),
        preflight=settings_only,  # a client is made, and can fail, only when it runs
    )
)
