"""The exceptions of the metadata layer.

Expected outcomes of admin requests (a topic that exists, a stale broker epoch) are
error codes in results, never exceptions. Two things are raised instead:
:class:`NotControllerError`, when this node cannot act as the controller (the caller
answers NOT_CONTROLLER or forwards the request to ``leader_id``), and
:class:`MetadataError`, when the metadata log contradicts the image, which is a bug or
a corrupt log and is never turned into an error code.
"""

from __future__ import annotations

from kafkapy.wire.error_codes import ErrorCode


class MetadataError(Exception):
    """A metadata record that cannot be applied to the image it follows."""


class NotControllerError(Exception):
    """This node is not the active controller, or stopped being it before a commit.

    Attributes:
        error_code: NOT_CONTROLLER, for the response.
        leader_id: the node believed to lead the quorum, or None.
    """

    error_code = ErrorCode.NOT_CONTROLLER

    def __init__(self, message: str, leader_id: int | None = None) -> None:
        super().__init__(message)
        self.leader_id = leader_id
