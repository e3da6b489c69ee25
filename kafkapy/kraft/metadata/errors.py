"""The exception of the metadata layer.

Expected outcomes of admin requests (a topic that exists, a stale broker epoch) are
error codes in results, never exceptions. :class:`MetadataError` is raised when the
metadata log itself contradicts the image, which is a bug or a corrupt log.
"""

from __future__ import annotations


class MetadataError(Exception):
    """A metadata record that cannot be applied to the image it follows."""
