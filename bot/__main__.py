"""``python -m bot`` is the ``docbot`` command."""

import sys

from bot.cli.main import main

sys.exit(main())
