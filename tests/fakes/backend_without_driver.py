"""A store backend module whose database driver is not installed: what
``open_store`` meets when the PostgreSQL extra is missing (``test_store_contract``)."""

import docbot_test_driver_that_is_not_installed  # noqa: F401
