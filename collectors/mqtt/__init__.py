"""MQTT input: see README.md in this folder and sample.toml."""

from collectors.mqtt.driver import MqttDriver
from collectors.mqtt.parse import PayloadError, PayloadParser, subscription_filter, topic_pattern

__all__ = ["MqttDriver", "PayloadError", "PayloadParser", "subscription_filter", "topic_pattern"]
