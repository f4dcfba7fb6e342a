"""``python -m geor1``: the same command line as the ``geo-r1`` script."""

from geor1.cli import main

if __name__ == "__main__":
    main()
