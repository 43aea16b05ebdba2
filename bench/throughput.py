"""One engine's training throughput on one stack at one batch size, as JSON on stdout.

    python bench/throughput.py --engine project|keras|torch [--stack reference|global]
                               [--batch 64] [--epochs 3]

The stacks, trained with RMSprop on the same windows (the shipped MSFT sample, lookback 60,
the training windows of the default split, no validation, to time training alone):

- reference: LSTM(50, return_sequences) → Dropout(0.2) → LSTM(100) → Dropout(0.2) →
  Dense(1), the default config;
- global: what a global model over a watch list uses: a 4-number ticker embedding (8
  tickers; window n belongs to ticker n mod 8) joined to every step, LSTM(64,
  return_sequences) → LSTM(64) → Dense(1), no dropout.

The first epoch warms up (graph tracing, allocations) and is not counted.

- project: forecast.model.build_model + forecast.model.train.fit_model (FusedLSTM layers,
  its own seeded epoch loop), exactly the `train` command's path; epochs are timed
  between its on_epoch_end calls.
- keras: the reference article's script: stock keras.layers.LSTM and
  model.fit(x, y, epochs=…, batch_size=N).
- torch: the same network in PyTorch (torch.nn.LSTM ×2 + Linear, nn.Embedding for the
  global stack), RMSprop, shuffled batches; ``--precision bfloat16`` runs its forward pass
  under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (bf16 products, float32 weights
  and optimizer), PyTorch's mixed precision on CPUs with AVX512-BF16 or AMX.
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

LOOKBACK = 60
TICKERS = 8  # the global stack's embedding rows
EMBEDDING = 4  # and its width
STACKS = {  # (units of each LSTM, dropout after each, embedding width)
    "reference": ((50, 100), 0.2, 0),
    "global": ((64, 64), 0.0, EMBEDDING),
}


def windows(stack: str) -> tuple[np.ndarray, np.ndarray]:
    """The training windows: (n, 60, 1), or (n, 60, 2) with the ticker's index for the
    global stack; targets (n,)."""
    from forecast.config import DataConfig
    from forecast.data.sources import load_prices
    from forecast.data.windows import WindowSpec, prepare_dataset

    dataset = prepare_dataset(load_prices(DataConfig()), WindowSpec(LOOKBACK, 0.2, 0.0))
    x = dataset.x_train
    if STACKS[stack][2]:
        ticker = (np.arange(len(x)) % TICKERS).astype("float32")  # (n,)
        x = np.concatenate([x, np.broadcast_to(ticker[:, None, None], x.shape)], axis=-1)
    return np.ascontiguousarray(x, dtype="float32"), dataset.y_train.astype("float32")


def flops_per_window(stack: str) -> float:
    """Training FLOPs for one window: 3 × forward (backward ≈ 2 × forward), counting the
    LSTM products (8·u·(inputs + u) a step) and the output layer."""
    units, _, embedding = STACKS[stack]
    inputs = [1 + embedding, *units[:-1]]
    per_step = sum(8 * u * (n + u) for u, n in zip(units, inputs))
    return 3.0 * (LOOKBACK * per_step + 2 * units[-1])


def run_project(
    x, y, stack: str, batch: int, epochs: int, precision: str = "float32"
) -> list[float]:
    from dataclasses import replace

    from forecast.config import DropoutLayerConfig, RecurrentLayerConfig, load_config
    from forecast.data.windows import Dataset, WindowSpec
    from forecast.model.build import build_model
    from forecast.model.train import fit_model, seed_everything

    units, rate, embedding = STACKS[stack]
    config = load_config(
        None,
        [
            "train.validation_fraction=0",
            "train.progress=none",
            f"train.batch_size={batch}",
            f"train.precision={precision}",
        ],
    )
    layers = []
    for size in units:
        layers.append(RecurrentLayerConfig(type="lstm", units=size))
        if rate:
            layers.append(DropoutLayerConfig(type="dropout", rate=rate))
    config = replace(
        config,
        model=replace(
            config.model, layers=tuple(layers), ticker_embedding=embedding, scope="global"
        ),
    )
    seed_everything(0)
    model = build_model(config, tickers=TICKERS if embedding else 0)
    empty = np.zeros((0, *x.shape[1:]), "float32")
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


def run_keras(x, y, stack: str, batch: int, epochs: int, precision: str = "float32") -> list[float]:
    import keras

    units, rate, embedding = STACKS[stack]
    keras.utils.set_random_seed(0)
    inputs = keras.Input((LOOKBACK, x.shape[-1]))
    hidden = inputs
    if embedding:
        ids = keras.ops.cast(inputs[..., -1], "int32")  # (batch, 60)
        vectors = keras.layers.Embedding(TICKERS, embedding)(ids)  # (batch, 60, 4)
        hidden = keras.layers.Concatenate()([inputs[..., :-1], vectors])
    for index, size in enumerate(units):
        hidden = keras.layers.LSTM(size, return_sequences=index < len(units) - 1)(hidden)
        if rate:
            hidden = keras.layers.Dropout(rate)(hidden)
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile(loss="mean_squared_error", optimizer="rmsprop")
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(x, y, epochs=epochs + 1, batch_size=batch, verbose=0, callbacks=[Timer()])
    return times[1:]


def run_torch(x, y, stack: str, batch: int, epochs: int, precision: str = "float32") -> list[float]:
    import contextlib

    import torch
    from torch import nn

    units, rate, embedding = STACKS[stack]
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)

    class Network(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(TICKERS, embedding) if embedding else None
            sizes = [1 + embedding, *units]
            self.layers = nn.ModuleList(
                nn.LSTM(sizes[i], sizes[i + 1], batch_first=True) for i in range(len(units))
            )
            self.dropout = nn.Dropout(rate)
            self.head = nn.Linear(units[-1], 1)

        def forward(self, windows):
            if self.embedding is not None:  # (batch, 60, 2) -> (batch, 60, 1 + 4)
                vectors = self.embedding(windows[..., -1].long())
                windows = torch.cat([windows[..., :-1], vectors], dim=-1)
            hidden = windows
            for layer in self.layers:
                hidden, _ = layer(hidden)  # (batch, 60, u)
                hidden = self.dropout(hidden)
            return self.head(hidden[:, -1])  # (batch, 1)

    model = Network()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=0.001, alpha=0.9, eps=1e-7)
    loss_function = nn.MSELoss()
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y).reshape(-1, 1)
    times = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(len(inputs))
        for begin in range(0, len(inputs), batch):
            rows = order[begin : begin + batch]
            optimizer.zero_grad()
            with (
                torch.autocast("cpu", dtype=torch.bfloat16)
                if precision == "bfloat16"
                else contextlib.nullcontext()
            ):
                predictions = model(inputs[rows])
            loss = loss_function(predictions.float(), targets[rows])
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return times[1:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=("project", "keras", "torch"), required=True)
    parser.add_argument("--stack", choices=tuple(STACKS), default="reference")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32")
    args = parser.parse_args()
    if args.precision != "float32" and args.engine == "keras":
        parser.error("--precision bfloat16: the project and torch engines have a bf16 path")
    x, y = windows(args.stack)
    if args.engine == "torch":
        times = run_torch(x, y, args.stack, args.batch, args.epochs, args.precision)
    else:
        runner = {"project": run_project, "keras": run_keras}[args.engine]
        times = runner(x, y, args.stack, args.batch, args.epochs, args.precision)
    print(
        json.dumps(
            {
                "engine": args.engine,
                "stack": args.stack,
                "batch": args.batch,
                "precision": args.precision,
                "windows": len(y),
                "epoch_seconds": times,
                "flops_per_window": flops_per_window(args.stack),
            }
        )
    )


if __name__ == "__main__":
    main()
