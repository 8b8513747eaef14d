"""`python -m wno_edge.cli`: the same as the `wno-edge` console script."""

import sys

from . import main

sys.exit(main())
