"""Test support for Mirage: the real infrastructure, isolation per test, waiting on conditions."""

from testkit.infra import Infra, pinned_kafka_version, real_infra, running_kafka_version
from testkit.ports import free_port
from testkit.processes import ServiceProcess
from testkit.waiting import wait_until

__all__ = [
    "Infra",
    "ServiceProcess",
    "free_port",
    "pinned_kafka_version",
    "real_infra",
    "running_kafka_version",
    "wait_until",
]
