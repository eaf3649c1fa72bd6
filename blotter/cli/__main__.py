"""``python -m blotter.cli``: the ``blotter`` program."""

from blotter.cli import main

main()
