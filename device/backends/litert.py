"""Import of the TFLite interpreter: ai-edge-litert first, tflite-runtime as the fallback."""

from __future__ import annotations

from ..errors import BackendUnavailableError
from ..quiet import quiet_native_stderr


def interpreter_module():
    """The module providing Interpreter (and load_delegate), or a clear error naming the package."""
    try:
        from ai_edge_litert import interpreter as mod  # the maintained runtime, aarch64 wheels

        return mod
    except ImportError:
        pass
    try:
        from tflite_runtime import interpreter as mod  # older Pi images

        return mod
    except ImportError:
        raise BackendUnavailableError(
            "no TFLite runtime installed: `pip install ai-edge-litert` (or tflite-runtime on older systems)"
        ) from None


def make_interpreter(model, num_threads: int | None = None, delegates=(), xnnpack: bool = True, keep_all: bool = False):
    """An allocated Interpreter for a .tflite file (a path) or a model's bytes. xnnpack=False keeps
    plain builtin kernels, so every op and constant tensor stays visible (used to read weights);
    keep_all keeps every intermediate tensor readable after invoke (the converter's error analysis)."""
    mod = interpreter_module()
    source = {"model_content": model} if isinstance(model, (bytes, bytearray)) else {"model_path": str(model)}
    kwargs = {**source, "num_threads": num_threads}
    if delegates:
        kwargs["experimental_delegates"] = list(delegates)
    if not xnnpack:
        kwargs["experimental_op_resolver_type"] = mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if keep_all:
        kwargs["experimental_preserve_all_tensors"] = True
    with quiet_native_stderr():  # the runtime's "Created TensorFlow Lite XNNPACK delegate" line
        it = mod.Interpreter(**kwargs)
        it.allocate_tensors()
    return it
