"""The error of the preferential-attachment analysis and of the modules it is built from."""

from nn2graph.exceptions import NN2GraphError

__all__ = ["AttachmentError"]


class AttachmentError(NN2GraphError, ValueError):
    """Two snapshots cannot be compared (different vertices, lost connections, bad bins)."""
