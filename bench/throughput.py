"""One engine's training throughput on the reference stack, as JSON on stdout.

    python bench/throughput.py --engine project|keras|torch [--epochs 3]

All engines train LSTM(50, return_sequences) → Dropout(0.2) → LSTM(100) → Dropout(0.2) →
Dense(1) with RMSprop, batch 64, on the same windows: the shipped MSFT sample, lookback 60,
the training windows of the default split (no validation, to time training alone). The
first epoch warms up (graph tracing, allocations) and is not counted.

- project: forecast.model.build_model + forecast.model.train.fit_model (FusedLSTM layers,
  its own seeded epoch loop), exactly the `train` command's path; epochs are timed
  between its on_epoch_end calls.
- keras: the reference article's script: a Sequential of stock keras.layers.LSTM and
  model.fit(x, y, epochs=…, batch_size=64).
- torch: the same network in PyTorch (torch.nn.LSTM ×2 + Linear), RMSprop, shuffled batches.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

BATCH = 64
LOOKBACK = 60


def windows() -> tuple[np.ndarray, np.ndarray]:
    from forecast.config import DataConfig
    from forecast.data.sources import load_prices
    from forecast.data.windows import WindowSpec, prepare_dataset

    dataset = prepare_dataset(load_prices(DataConfig()), WindowSpec(LOOKBACK, 0.2, 0.0))
    return dataset.x_train, dataset.y_train.astype("float32")  # (n, 60, 1), (n,)


def flops_per_window() -> float:
    """Training FLOPs for one window: 3 × forward (backward ≈ 2 × forward)."""
    per_step = sum(8 * units * (inputs + units) for units, inputs in ((50, 1), (100, 50)))
    return 3.0 * (LOOKBACK * per_step + 2 * 100)


def run_project(x, y, epochs: int) -> list[float]:
    from dataclasses import replace

    from forecast.config import load_config
    from forecast.data.windows import Dataset, WindowSpec
    from forecast.model.build import build_model
    from forecast.model.train import fit_model, seed_everything

    config = load_config(None, ["train.validation_fraction=0", "train.progress=none"])
    seed_everything(0)
    model = build_model(config)
    empty = np.zeros((0, LOOKBACK, 1), "float32")
    dataset = Dataset(
        prices=None,
        spec=WindowSpec(LOOKBACK, 0.2, 0.0),
        n_train=len(y),
        scaler=None,
        x_train=x,
        y_train=y,
        x_val=empty,
        y_val=empty[:, 0, 0],
        x_test=empty,
        y_test=empty[:, 0, 0],
    )
    ends = [time.perf_counter()]
    fit_model(
        model,
        dataset,
        replace(config.train, epochs=epochs + 1),
        on_epoch_end=lambda state, model, best: ends.append(time.perf_counter()),
    )
    return list(np.diff(ends)[1:])


def run_keras(x, y, epochs: int) -> list[float]:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((LOOKBACK, 1)),
            keras.layers.LSTM(50, return_sequences=True),
            keras.layers.Dropout(0.2),
            keras.layers.LSTM(100),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(1),
        ]
    )
    model.compile(loss="mean_squared_error", optimizer="rmsprop")
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(x, y, epochs=epochs + 1, batch_size=BATCH, verbose=0, callbacks=[Timer()])
    return times[1:]


def run_torch(x, y, epochs: int) -> list[float]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)

    class Reference(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = nn.LSTM(1, 50, batch_first=True)
            self.second = nn.LSTM(50, 100, batch_first=True)
            self.dropout = nn.Dropout(0.2)
            self.head = nn.Linear(100, 1)

        def forward(self, windows):
            hidden, _ = self.first(windows)  # (batch, 60, 50)
            hidden, _ = self.second(self.dropout(hidden))  # (batch, 60, 100)
            return self.head(self.dropout(hidden[:, -1]))  # (batch, 1)

    model = Reference()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=0.001, alpha=0.9, eps=1e-7)
    loss_function = nn.MSELoss()
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y).reshape(-1, 1)
    times = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(len(inputs))
        for begin in range(0, len(inputs), BATCH):
            batch = order[begin : begin + BATCH]
            optimizer.zero_grad()
            loss = loss_function(model(inputs[batch]), targets[batch])
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return times[1:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=("project", "keras", "torch"), required=True)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    x, y = windows()
    runner = {"project": run_project, "keras": run_keras, "torch": run_torch}[args.engine]
    times = runner(x, y, args.epochs)
    print(
        json.dumps(
            {
                "engine": args.engine,
                "windows": len(y),
                "epoch_seconds": times,
                "flops_per_window": flops_per_window(),
            }
        )
    )


if __name__ == "__main__":
    main()
