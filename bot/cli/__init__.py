"""The ``docbot`` command: argument parsing (``main``), what each subcommand does
(``commands``), and terminal output (``progress``)."""
