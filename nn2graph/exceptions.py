"""Exceptions raised by nn2graph, analysis and experiments.

Every error the project raises on bad input derives from :class:`NN2GraphError`, so a
script can catch them all; each also derives from the built-in exception a Python user
would expect (``ValueError`` for bad values, ``TypeError`` for unsupported types).
The command line prints their message and exits with status 2.
"""


class NN2GraphError(Exception):
    """Base class of every error nn2graph raises on bad input."""
