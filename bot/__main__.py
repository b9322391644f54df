"""``python -m bot`` is the ``docbot`` command."""

import sys

from bot.cli import main

sys.exit(main())
