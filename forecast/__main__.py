"""``python -m forecast COMMAND …``: the same command line as ``forecast`` and main.py."""

from forecast.cli import entry_point

if __name__ == "__main__":
    entry_point()
