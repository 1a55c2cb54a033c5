"""``python -m sessionward``: the same as the ``sessionward`` command."""

from sessionward._cli import main

if __name__ == "__main__":
    main()
