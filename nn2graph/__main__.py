"""``python -m nn2graph`` runs the command line."""

import sys

from nn2graph.cli import main

sys.exit(main())
