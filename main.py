"""Entry point: ``python main.py COMMAND …`` (``python main.py --help`` lists the commands:
train, evaluate, forecast, score, update, backtest, compare, explain, summary, batch,
sweep)."""

from forecast.cli import entry_point

if __name__ == "__main__":
    entry_point()
