"""TensorFlow, imported once and quietly, by the modules that need it.

Nothing else in the package imports TensorFlow, so ``--help``, config validation and
parameter counting stay instant. curl_cffi (yfinance's HTTP client) is loaded first where it
is installed: loaded after TensorFlow, its browser impersonation fails (yfinance#2528).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile

_TENSORFLOW_NOISE = (
    "All log messages before absl::InitializeLog()",
    "oneDNN custom operations are on",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its start-up banners filtered out of stderr.

    TF_CPP_MIN_LOG_LEVEL silences TensorFlow's own logging, but the oneDNN and CPU-feature
    notices are printed before logging starts; stderr is captured at the file-descriptor
    level during the import and everything except those known lines is passed on.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    with contextlib.suppress(ImportError):  # before TensorFlow, or its browser impersonation
        import curl_cffi.requests  # noqa: F401  fails (yfinance#2528): Yahoo downloads use it
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401  (imports tensorflow)
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode("utf-8", "replace").splitlines():
                if not any(noise in line for noise in _TENSORFLOW_NOISE):
                    print(line, file=sys.stderr)
    # "N out of the last M calls … triggered tf.function retracing": each of many networks
    # (one per ticker) traces its own predict function, which is expected, not a problem
    logging.getLogger("tensorflow").addFilter(
        lambda record: "triggered tf.function retracing" not in record.getMessage()
    )
