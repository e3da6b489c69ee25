"""Space set aside for the metadata log on its filesystem, released when the disk fills.

Kafka keeps ``__cluster_metadata`` in the first ``log.dirs`` entry unless
``metadata.log.dir`` says otherwise, so a topic that fills the disk also leaves the
metadata log with no room; Kafka then halts on the metadata log's I/O error, and a
restart on the full disk halts again (recovery rebuilds indexes, the election writes
``quorum-state``), so the operator cannot even delete the topic that filled it
(issue 13).

kafkapy keeps a file of :data:`RESERVE_BYTES` zeros, ``.kafkapy-metadata-reserve``,
next to the metadata log. Whenever the filesystem has less free space than that, at
open and before each metadata append, the file is removed: the space it held is
what lets the node start, be elected, and commit the DeleteTopics that frees the
disk. It is written again at the next open with room for it twice over. The reserve
never lets a write be acknowledged that was not persisted: it only makes room before
the write, which still fails (and stops the Raft driver) if the room is not enough.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

RESERVE_FILE = ".kafkapy-metadata-reserve"
#: Room for thousands of metadata records, an index rebuild and ``quorum-state``.
RESERVE_BYTES = 1 << 20
_CHUNK = 64 << 10


def free_bytes(directory: str) -> int:
    """Bytes an unprivileged writer may still use on ``directory``'s filesystem."""
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


class SpaceReserve:
    """The reserve file of one metadata log directory."""

    def __init__(self, directory: str, size: int = RESERVE_BYTES) -> None:
        self.path = os.path.join(directory, RESERVE_FILE)
        self.directory = directory
        self.size = size

    @property
    def held(self) -> bool:
        return os.path.exists(self.path)

    def release_if_short(self, needed: int = 0) -> bool:
        """Remove the reserve if the filesystem has less than its size (plus ``needed``)
        free; returns True if it did."""
        try:
            if not self.held or free_bytes(self.directory) >= self.size + needed:
                return False
            os.unlink(self.path)
        except OSError as exc:
            log.warning("Could not release the metadata log's reserve %s: %s", self.path, exc)
            return False
        log.warning("The filesystem of %s is nearly full: released the metadata log's %d-byte reserve so that "
                    "metadata (DeleteTopics to free space) can still be written; free space, then restart to "
                    "reserve it again", self.directory, self.size)
        return True

    def create_if_room(self) -> bool:
        """Write the reserve if absent and the filesystem has room for it twice over."""
        try:
            if self.held or free_bytes(self.directory) < 2 * self.size:
                return False
            partial = self.path + ".tmp"
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                zeros = bytes(_CHUNK)
                for _ in range(0, self.size, _CHUNK):
                    os.write(fd, zeros)  # real blocks: a sparse file would reserve nothing
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(partial, self.path)
        except OSError as exc:
            log.warning("Could not reserve space for the metadata log in %s: %s", self.directory, exc)
            try:
                os.unlink(self.path + ".tmp")
            except OSError:
                pass
            return False
        return True
