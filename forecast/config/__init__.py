"""Typed, frozen configuration loaded once from YAML and passed down explicitly.

``schema`` (with ``network`` and ``training``) says what a config holds and checks each value
(``checks``); ``loading`` reads YAML and ``--set`` overrides into it. Nothing here imports
TensorFlow or pandas, so validating a config is instant.
"""

from forecast.config.checks import (
    ACTIVATIONS,
    BAR_INTERVALS,
    DERIVED_FEATURES,
    FEATURE_NAMES,
    INITIALIZERS,
    RECURRENT_TYPES,
    REGULARIZERS,
    SOURCE_FEATURES,
    TYPE_SPECIFIC,
    WINDOWED_FEATURE,
)
from forecast.config.loading import (
    RENAMED_KEYS,
    SHIPPED_CONFIGS,
    apply_override,
    config_from_dict,
    config_hash,
    config_path,
    config_to_dict,
    load_config,
    migrate_renamed,
    read_yaml,
    set_key,
)
from forecast.config.network import (
    LAYER_TYPES,
    DenseLayerConfig,
    DropoutLayerConfig,
    LayerConfig,
    ModelConfig,
    RecurrentLayerConfig,
)
from forecast.config.schema import (
    Config,
    DataConfig,
    EvaluationConfig,
    ForecastConfig,
    OutputConfig,
    TrackingConfig,
)
from forecast.config.training import (
    CALLBACK_TYPES,
    CallbackConfig,
    CSVLoggerConfig,
    LearningRateSchedulerConfig,
    ReduceLROnPlateauConfig,
    TerminateOnNaNConfig,
    TrainConfig,
    resolve_progress,
)

__all__ = [
    "ACTIVATIONS",
    "BAR_INTERVALS",
    "CALLBACK_TYPES",
    "DERIVED_FEATURES",
    "FEATURE_NAMES",
    "INITIALIZERS",
    "LAYER_TYPES",
    "RECURRENT_TYPES",
    "REGULARIZERS",
    "RENAMED_KEYS",
    "SHIPPED_CONFIGS",
    "SOURCE_FEATURES",
    "TYPE_SPECIFIC",
    "WINDOWED_FEATURE",
    "CSVLoggerConfig",
    "CallbackConfig",
    "Config",
    "DataConfig",
    "DenseLayerConfig",
    "DropoutLayerConfig",
    "EvaluationConfig",
    "ForecastConfig",
    "LayerConfig",
    "LearningRateSchedulerConfig",
    "ModelConfig",
    "OutputConfig",
    "TrackingConfig",
    "RecurrentLayerConfig",
    "ReduceLROnPlateauConfig",
    "TerminateOnNaNConfig",
    "TrainConfig",
    "apply_override",
    "config_from_dict",
    "config_hash",
    "config_path",
    "config_to_dict",
    "load_config",
    "migrate_renamed",
    "read_yaml",
    "resolve_progress",
    "set_key",
]
