"""Parameter counts from the config alone, each with the formula behind it (no TensorFlow).

LSTM: 4 gates × (units × (units + inputs) + units) — 4 × (50 × (50 + 1) + 50) = 10,400
for the first reference layer. GRU: 3 × (units × (units + inputs) + 2·units) with Keras 3's
``reset_after`` (two bias vectors), 3 × (… + units) without. SimpleRNN: units × (units +
inputs) + units. Bidirectional doubles a layer. Dense: inputs × units + units.
"""

from __future__ import annotations

from dataclasses import dataclass

from forecast.config import Config, DenseLayerConfig, RecurrentLayerConfig


def layer_parameter_formula(
    layer_type: str, units: int, inputs: int, use_bias: bool = True, reset_after: bool = True
) -> int:
    """Trainable parameters of one recurrent layer, by the textbook formula."""
    bias = units if use_bias else 0
    weights = units * (units + inputs)
    if layer_type == "lstm":
        return 4 * (weights + bias)
    if layer_type == "gru":
        return 3 * (weights + bias * (2 if reset_after else 1))
    if layer_type == "simple_rnn":
        return weights + bias
    raise ValueError(f"not a recurrent layer type: {layer_type}")


@dataclass(frozen=True)
class LayerCount:
    name: str  # as build_model names the Keras layer
    description: str
    formula: str
    count: int


def _recurrent_formula(layer: RecurrentLayerConfig, inputs: int) -> str:
    units = layer.units
    bias = (
        ""
        if not layer.use_bias
        else (f" + 2×{units}" if layer.type == "gru" and layer.reset_after else f" + {units}")
    )
    core = f"{units} × ({units} + {inputs}){bias}"
    gates = {"lstm": "4 × ", "gru": "3 × ", "simple_rnn": ""}[layer.type]
    text = f"{gates}({core})" if gates else core
    return f"2 × [{text}]" if layer.bidirectional else text


def parameter_table(
    config: Config, n_features: int | None = None, tickers: int = 0
) -> list[LayerCount]:
    """One row per layer with weights, in build_model's order, ending with the Dense(H)
    output (H = model.horizon).

    n_features: inputs per time step (default: the config's data.features). With
    ``model.ticker_embedding`` D each step also reads the ticker's D-vector; ``tickers``:
    the embedding's rows (0: not known yet, the tickers fitted decide; counted as none)."""
    n_features = len(config.data.features) if n_features is None else n_features
    rows: list[LayerCount] = []
    embedding = config.model.ticker_embedding
    if embedding:
        rows.append(
            LayerCount(
                "ticker_embedding",
                f"TickerEmbedding({embedding})",
                f"{tickers or 'tickers'} × {embedding}",
                tickers * embedding,
            )
        )
        n_features += embedding
    layers = config.model.layers
    has_recurrent = any(isinstance(layer, RecurrentLayerConfig) for layer in layers)
    width = n_features if has_recurrent else config.data.lookback * n_features
    for index, layer in enumerate(layers):
        if isinstance(layer, RecurrentLayerConfig):
            count = layer_parameter_formula(
                layer.type, layer.units, width, layer.use_bias, bool(layer.reset_after)
            )
            count *= 2 if layer.bidirectional else 1
            name = f"bidirectional_{index}" if layer.bidirectional else f"{layer.type}_{index}"
            rows.append(
                LayerCount(
                    name,
                    f"{layer.type.upper()}({layer.units})"
                    f"{' bidirectional' if layer.bidirectional else ''}",
                    _recurrent_formula(layer, width),
                    count,
                )
            )
            width = layer.units * (2 if layer.bidirectional else 1)
        elif isinstance(layer, DenseLayerConfig):
            rows.append(
                LayerCount(
                    f"dense_{index}",
                    f"Dense({layer.units})",
                    f"{width} × {layer.units} + {layer.units}",
                    width * layer.units + layer.units,
                )
            )
            width = layer.units
    outputs = config.model.horizon
    rows.append(
        LayerCount(
            "next_close",
            f"Dense({outputs}) output",
            f"{width} × {outputs} + {outputs}",
            width * outputs + outputs,
        )
    )
    return rows


def format_parameter_table(rows: list[LayerCount]) -> str:
    lines = [f"{'layer':<18}{'kind':<26}{'formula':<40}{'params':>10}"]
    for row in rows:
        lines.append(f"{row.name:<18}{row.description:<26}{row.formula:<40}{row.count:>10,}")
    lines.append(f"{'total':<84}{sum(row.count for row in rows):>10,}")
    return "\n".join(lines)
