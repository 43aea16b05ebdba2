"""The fused LSTM and dropout ops (``fused_lstm.cc``), compiled for this machine on first use.

TensorFlow's pip package ships the headers to build custom ops against it, so the C++ source
travels with forecast and is compiled with the system C++ compiler the first time a fused
LSTM runs (about 20 s), into ``$FORECAST_CACHE_DIR`` (default ``~/.cache/forecast``) under
a name that hashes the source, the TensorFlow version, the flags and the CPU (not where
TensorFlow is installed: a new virtual environment reuses it). Later processes load the
cached library at once. Where no compiler is found or the build fails,
``fused_ops()`` returns None with the reason in ``unavailable_reason()``, and FusedLSTM and
FusedDropout keep the stock Keras layers: slower, never wrong (stock Dropout draws other
masks, so numbers differ from a run with the ops). ``FORECAST_NATIVE=0`` skips the build;
``FORECAST_NATIVE_FLAGS`` adds compiler flags (e.g. ``-mno-avx512f`` for the portable Eigen
products instead of the AVX-512 kernel, or ``-march=x86-64-v3`` for a library that other
machines of a cluster can share).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from forecast.base.cache import cache_dir
from forecast.model.backend import import_tensorflow_quietly

import_tensorflow_quietly()

import tensorflow as tf  # noqa: E402

SOURCE = Path(__file__).with_name("fused_lstm.cc")
_OPTIMISE = ["-O3", "-DNDEBUG", "-march=native", "-shared", "-fPIC", "-w"]
_state: dict[str, object] = {}  # "ops" (loaded module or None) and "reason", once per process
_gradient_registered = False  # TensorFlow takes one gradient registration per op name


def compiler_flags() -> list[str]:
    """The optimisation flags, then any from ``$FORECAST_NATIVE_FLAGS`` (later flags win).

    On CPUs with AVX512-FP16 (Sapphire Rapids and later), ``-march=native`` makes the Eigen
    headers bundled with TensorFlow 2.21 take their FP16 packet path, which g++ 12 cannot
    compile; the ops compute in float32 and never use it, so it is switched off there.
    """
    half_precision = ["-mno-avx512fp16"] if "avx512_fp16" in _cpu_fingerprint().split() else []
    return [*_OPTIMISE, *half_precision, *shlex.split(os.environ.get("FORECAST_NATIVE_FLAGS", ""))]


def _cpu_fingerprint() -> str:
    """``-march=native`` code only runs on CPUs with the same features: key the cache by them."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _located(flags: list[str]) -> list[str]:
    """TensorFlow's build flags without the folders in them (``-I``, ``-L``): the headers and
    library are TensorFlow's version's wherever it is installed, and the op finds the
    library by its name when it loads into a process that already runs TensorFlow."""
    return [flag for flag in flags if not flag.startswith(("-I", "-L"))]


def library_path() -> Path:
    """The cached library's path for this source, TensorFlow version and ABI, compiler flags
    and CPU: not the virtual environment's folder, so a new environment with the same
    TensorFlow on the same machine reuses it."""
    key = hashlib.sha256()
    for part in (
        SOURCE.read_bytes(),
        tf.__version__.encode(),
        " ".join(compiler_flags()).encode(),
        " ".join(_located(tf.sysconfig.get_compile_flags())).encode(),
        " ".join(_located(tf.sysconfig.get_link_flags())).encode(),
        _cpu_fingerprint().encode(),
        platform.machine().encode(),
    ):
        key.update(part)
        key.update(b"\0")
    return cache_dir() / f"fused_lstm-{key.hexdigest()[:16]}.so"


def build(target: Path) -> None:
    """Compile ``fused_lstm.cc`` into ``target`` atomically (a half-built file never shows)."""
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        raise RuntimeError("no C++ compiler found (install g++, or set CXX)")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=".building-", suffix=".so")
    os.close(handle)
    command = [
        compiler,
        *compiler_flags(),
        *tf.sysconfig.get_compile_flags(),
        str(SOURCE),
        "-o",
        partial,
        *tf.sysconfig.get_link_flags(),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"compiling {SOURCE.name} failed: {last}")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def _register_gradient(ops) -> None:
    global _gradient_registered
    if _gradient_registered:
        return
    _gradient_registered = True

    @tf.RegisterGradient("ForecastLstmForward")
    def _forward_gradient(op, d_hidden, d_cell, _d_gates):
        """The backward op gives dx, dW, dU and db in one pass back through the sequence."""
        hidden, cell, gates = op.outputs  # (B, T, u), (T, B, u), (T, B, 4u)
        if d_hidden is None:
            d_hidden = tf.zeros_like(hidden)
        if d_cell is None:
            d_cell = tf.zeros([0], cell.dtype)  # empty: nothing reaches the cell states
        return ops.forecast_lstm_backward(
            *op.inputs, hidden, cell, gates, d_hidden, d_cell, bf16=op.get_attr("bf16")
        )

    @tf.RegisterGradient("ForecastDropout")
    def _dropout_gradient(op, d_output):
        """Dropout is linear: the gradient takes the same mask, redrawn from the same seed."""
        return ops.forecast_dropout(
            d_output, op.inputs[1], rate=op.get_attr("rate"), scale=op.get_attr("scale")
        ), None


def fused_ops():
    """The loaded op module, or None where it cannot be built here (see unavailable_reason)."""
    if "ops" in _state:
        return _state["ops"]
    ops, reason = None, None
    if os.environ.get("FORECAST_NATIVE", "1") == "0":
        reason = "FORECAST_NATIVE=0"
    else:
        try:
            target = library_path()
            if not target.exists():
                print(
                    "forecast: compiling the fused LSTM and dropout kernels for this machine "
                    "(once, about 20 s)",
                    file=sys.stderr,
                    flush=True,
                )
                build(target)
            try:
                ops = tf.load_op_library(str(target))
            except (tf.errors.NotFoundError, OSError) as error:
                raise RuntimeError(
                    f"{target} did not load ({error}); delete it to rebuild it"
                ) from error
            _register_gradient(ops)
        except (
            OSError,
            RuntimeError,
            subprocess.SubprocessError,
            tf.errors.NotFoundError,
        ) as error:
            ops, reason = None, str(error)
            print(
                f"forecast: fused kernels unavailable ({reason}); using the stock "
                "Keras LSTM and Dropout",
                file=sys.stderr,
            )
    _state["ops"], _state["reason"] = ops, reason
    return ops


def bf16_products() -> bool:
    """Whether the loaded ops multiply in bfloat16 here: built where the CPU has AVX512-BF16
    (``-march=native``); asked of the op itself once per process."""
    if "bf16" not in _state:
        ops, works = fused_ops(), False
        if ops is not None:
            try:
                zeros = tf.zeros([4], tf.float32)
                ops.forecast_lstm_forward(
                    tf.zeros([1, 1, 1]), tf.zeros([1, 4]), tf.zeros([1, 4]), zeros, bf16=True
                )
                works = True
            except tf.errors.OpError:  # built without AVX512-BF16 (or no CPU kernel)
                works = False
        _state["bf16"] = works
    return bool(_state["bf16"])


def unavailable_reason() -> str | None:
    """Why fused_ops() returned None (None when it loaded or was not tried yet)."""
    return _state.get("reason")  # type: ignore[return-value]
