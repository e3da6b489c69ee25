"""The partition log: segments, indexes, recovery, retention, compaction, producer state.

Synchronous and clock-free; never imports ``broker`` or ``server``.
"""
