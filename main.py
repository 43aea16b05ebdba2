"""Entry point: ``python main.py [train|evaluate] …`` (see ``python main.py --help``)."""

import sys

from forecast.cli import main

if __name__ == "__main__":
    sys.exit(main())
