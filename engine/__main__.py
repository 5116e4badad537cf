"""``python -m engine`` is the ``turnout`` command."""

import sys

from engine.cli import main

sys.exit(main())
