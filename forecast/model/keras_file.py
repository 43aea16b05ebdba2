"""A ``.keras`` file read with the standard library and h5py alone (no TensorFlow, no Keras):
it is a zip of ``config.json`` (the layers) and ``model.weights.h5`` (their variables)."""

from __future__ import annotations

import io
import json
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

# What reading a damaged .keras file raises (a truncated or bit-flipped zip, a broken HDF5
# inside it): each is named as a file to train again, never a traceback.
DAMAGED = (
    OSError,
    KeyError,
    TypeError,
    IndexError,
    EOFError,
    StopIteration,
    zipfile.BadZipFile,
    zlib.error,
)


def read_layers(path: str | Path) -> tuple[list[tuple[str, dict, dict]], tuple]:
    """([(class name, layer config, {side: weights})], the input's batch shape): every layer
    in the model's order; a Bidirectional layer's weights by side (forward_layer,
    backward_layer), any other's under ''."""
    import h5py  # 0.1 s; only where a file is read

    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        stored = io.BytesIO(archive.read("model.weights.h5"))
    entries = config["config"]["layers"]
    layers = []
    with h5py.File(stored, "r") as weights_file:
        groups = weights_file["layers"]
        for entry, group_name in zip(entries, _weight_group_names(entries)):
            group = groups.get(group_name)
            if entry["class_name"] == "Bidirectional":
                found = {
                    side: _stored_weights(group[side])
                    for side in ("forward_layer", "backward_layer")
                }
            else:
                found = {"": _stored_weights(group) if group is not None else []}
            layers.append((entry["class_name"], entry["config"], found))
    input_shape = next(
        entry["config"]["batch_shape"] for entry in entries if entry["class_name"] == "InputLayer"
    )
    return layers, tuple(input_shape)


def _snake_case(name: str) -> str:
    """Keras's naming.to_snake_case: LSTM → lstm, FusedLSTM → fused_lstm, SimpleRNN →
    simple_rnn, InputLayer → input_layer."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _weight_group_names(entries: list[dict]) -> list[str]:
    """Where Keras 3 stores each layer's weights in model.weights.h5: ``layers/`` + the
    snake-cased class name, ``_1``, ``_2`` … for repeats, in the model's layer order."""
    used: dict[str, int] = {}
    names = []
    for entry in entries:
        name = _snake_case(entry["class_name"])
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        names.append(name)
    return names


def _stored_weights(group: Any) -> list[np.ndarray]:
    """A layer group's variables in order: ``vars/0``, ``vars/1`` … (recurrent layers keep
    theirs in ``cell/vars``)."""
    if "cell" in group:
        group = group["cell"]
    variables = group["vars"]
    return [np.asarray(variables[str(index)]) for index in range(len(variables))]


def input_shape(path: str | Path) -> tuple:
    """The window shape a .keras file's network takes, from its config.json alone."""
    from forecast.errors import RunError

    try:
        with zipfile.ZipFile(path) as archive:
            layers = json.loads(archive.read("config.json"))["config"]["layers"]
        shape = next(
            layer["config"]["batch_shape"]
            for layer in layers
            if layer["class_name"] == "InputLayer"
        )
    except (*DAMAGED, ValueError) as error:
        raise RunError(
            f"{path}: not a loadable Keras model ({type(error).__name__}); train the run again"
        ) from None
    return tuple(shape)
