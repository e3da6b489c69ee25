"""Running kafkapy inside tests: the pytest plugin and an in-process broker.

``from kafkapy.testing import Broker`` imports the broker lazily, so importing this
package (as pytest does for the plugin) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kafkapy.testing.broker import Broker

__all__ = ["Broker"]


def __getattr__(name: str) -> Any:
    if name == "Broker":
        from kafkapy.testing.broker import Broker

        return Broker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
