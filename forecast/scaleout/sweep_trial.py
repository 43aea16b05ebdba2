"""One sweep trial, run in its worker: a drawn config scored on the training rows alone with
the backtest's own fold functions, reported after every epoch (one validation block) or
after every fold (``folds``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from forecast.scaleout.space import Space, configure

OBJECTIVE = "objective"  # the metric trials report and the search minimises


def run_trial(
    drawn: dict[str, Any],
    report: Callable[[dict[str, Any]], None],
    values: dict[str, Any],
    space: Space,
    bars: pd.DataFrame,
    folds: int,
) -> None:
    """Score one drawn config on ``bars`` (the training rows alone), reporting as it goes.

    Raises UserError for a config the data cannot serve (the trial is recorded as failed).
    """
    from forecast.evaluation.backtest import make_folds, run_fold
    from forecast.evaluation.metrics import mase

    config = configure(values, space.decode(drawn))
    config = replace(config, train=replace(config.train, progress="none"))
    prices = bars["price"].to_numpy()
    if folds == 0:
        fold = make_folds(len(bars), 1, config.data.test_fraction)[0]
        before = prices[: fold.cutoff]

        def on_epoch(logs: dict[str, float], frame: pd.DataFrame, last: bool) -> None:
            report(
                {
                    OBJECTIVE: mase(frame["actual"], frame["model"], before),
                    "naive_objective": mase(frame["actual"], frame["naive"], before),
                    "finished": last,
                    **logs,
                }
            )

        run_fold(config, bars, fold, on_epoch=on_epoch)
        return
    scores, naive, epochs = [], [], 0
    plan = make_folds(len(bars), folds, config.data.test_fraction)
    for fold in plan:
        outcome = run_fold(config, bars, fold)
        frame, before = outcome.predictions, prices[: fold.cutoff]
        scores.append(mase(frame["actual"], frame["model"], before))
        naive.append(mase(frame["actual"], frame["naive"], before))
        epochs += outcome.epochs_run
        report(
            {
                OBJECTIVE: float(np.mean(scores)),
                "naive_objective": float(np.mean(naive)),
                "folds_run": fold.index + 1,
                "epochs": epochs,  # over the folds so far
                "finished": fold.index + 1 == len(plan),
            }
        )
