"""``python -m blotter.cli``: the ``blotter`` program."""

from blotter.cli import main

# Guarded: tools that import every module (tests/test_errors.py walks the package) must not
# run the program.
if __name__ == "__main__":
    main()
