"""Exit statuses and JSON output shared by every subcommand."""

from __future__ import annotations

import json
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
"""0 success; 1 something failed (a source, a service); 2 bad input or configuration."""


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
