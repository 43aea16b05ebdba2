"""forecast: LSTM stock-price forecasting driven by YAML configs.

The package is laid out in the order data flows through it:
``forecast.data`` (prices → split → scaled windows) → ``forecast.model`` (build, train)
→ ``forecast.report`` (metrics against baselines, plots), tied together by
``forecast.pipeline`` and stored by ``forecast.runs``.

Importing the package is cheap: TensorFlow is imported only by the modules that need it.
"""

__version__ = "0.1.0"
