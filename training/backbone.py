"""MobileNet backbones with ImageNet weights from Keras' cache, a Keras .h5 file, or a quantised
TFLite ImageNet classifier dequantised into the Keras model."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from device.backends.litert import make_interpreter
from .data_errors import DataError

# Layer whose output is the 7x7 feature grid, per backbone.
FEATURE_LAYER = {"mobilenet_v2": "out_relu", "mobilenet_v1": "conv_pw_13_relu", "mobilenet_v3_small": None}


def _application(name: str, alpha: float, size: int, include_top: bool, weights):
    shape = (size, size, 3)
    if name == "mobilenet_v2":
        return keras.applications.MobileNetV2(input_shape=shape, alpha=alpha, include_top=include_top, weights=weights)
    if name == "mobilenet_v1":
        return keras.applications.MobileNet(input_shape=shape, alpha=alpha, include_top=include_top, weights=weights)
    if name == "mobilenet_v3_small":
        # include_preprocessing=True: v3 takes 0..255 pixels itself
        return keras.applications.MobileNetV3Small(
            input_shape=shape, alpha=alpha, include_top=include_top, weights=weights, include_preprocessing=True
        )
    raise ValueError(f"unknown backbone {name!r}: choose mobilenet_v2, mobilenet_v1 or mobilenet_v3_small")


def build_classifier(name: str, alpha: float, size: int, weights: str) -> keras.Model:
    """The ImageNet classifier (1000 classes, softmax) with weights none | imagenet | PATH.
    Its input is float pixels 0..255 (v1/v2 scaling to [-1, 1] is applied outside: see build_backbone)."""
    weights = weights or "none"
    if weights == "none":
        return _application(name, alpha, size, True, None)
    if weights == "imagenet":
        return _application(name, alpha, size, True, "imagenet")
    path = Path(weights)
    if not path.is_file():
        raise DataError(f"encoder weights {path}: no such file (use none, imagenet or a .h5/.tflite path)")
    model = _application(name, alpha, size, True, None)
    if path.suffix == ".tflite":
        import_tflite_classifier(model, path)
    else:
        _load_h5(model, path)
    return model


def _load_h5(model: keras.Model, path: Path) -> None:
    """Keras application .h5 weights; a no-top file loads into the conv layers by name."""
    try:
        model.load_weights(str(path))
    except ValueError:
        # no-top weights into a with-top model: load into the matching no-top sub-model
        sub = keras.Model(model.input, model.get_layer(_feature_layer_name(model)).output)
        try:
            sub.load_weights(str(path))
        except ValueError as e:
            raise DataError(f"{path}: does not match this backbone/alpha ({e})") from e


def _feature_layer_name(model: keras.Model) -> str:
    for name in FEATURE_LAYER.values():
        if name and name in [l.name for l in model.layers]:
            return name
    # MobileNetV3: the last 4-D activation before pooling
    return [l.name for l in model.layers if len(l.output.shape) == 4][-1]


# Backbones whose classifier is global average pooling + one softmax Dense on the feature grid, so the
# encoder can give the ImageNet class probabilities for the cost of that pooling and one matrix product.
CLASS_HEAD_LAYER = {"mobilenet_v2": "predictions"}
IMAGENET_CLASSES = 1000


def build_backbone(name: str, alpha: float, size: int, weights: str) -> keras.Model:
    """float pixels [B, size, size, 3] in 0..255 -> feature grid [B, g, g, C]. Scaling is inside."""
    return build_backbone_with_classes(name, alpha, size, weights)[0]


def build_backbone_with_classes(name: str, alpha: float, size: int, weights: str):
    """(backbone, the classifier's Dense head on the pooled grid, or None where the backbone has none)."""
    clf = build_classifier(name, alpha, size, weights)
    image = keras.Input((size, size, 3), name="image")
    x = image if name == "mobilenet_v3_small" else keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(image)
    trunk = keras.Model(clf.input, clf.get_layer(_feature_layer_name(clf)).output, name=f"{name}_trunk")
    head = clf.get_layer(CLASS_HEAD_LAYER[name]) if name in CLASS_HEAD_LAYER else None
    return keras.Model(image, trunk(x), name="backbone"), head


def classifier_with_scaling(clf: keras.Model, name: str) -> keras.Model:
    """0..255 pixels -> ImageNet probabilities: the classifier fed the way build_backbone feeds it."""
    size = clf.input.shape[1]
    image = keras.Input((size, size, 3))
    x = image if name == "mobilenet_v3_small" else keras.layers.Rescaling(1 / 127.5, offset=-1.0)(image)
    return keras.Model(image, clf(x))


def _dequantized(it, index: int) -> np.ndarray:
    """real = scale * (q - zero_point), per channel along quantized_dimension when the tensor says so."""
    det = next(t for t in it.get_tensor_details() if t["index"] == index)
    q = it.get_tensor(index).astype(np.float32)
    qp = det["quantization_parameters"]
    scales, zps, axis = qp["scales"], qp["zero_points"], qp["quantized_dimension"]
    if len(scales) == 0:
        return q
    shape = [1] * q.ndim
    if len(scales) > 1:
        shape[axis] = -1
    return (q - zps.reshape(shape)) * scales.reshape(shape)


def import_tflite_classifier(model: keras.Model, path: Path) -> None:
    """Load a (quantised) TFLite MobileNet classifier's weights into a Keras classifier.

    Convolutions match in execution order. TFLite folded each BatchNorm into its convolution's bias,
    so each Keras BatchNorm becomes the identity plus that bias (gamma=1, beta=bias, mean=0,
    var=1-eps). The TFLite head has 1001 classes with `background` first; Keras has 1000.
    """
    it = make_interpreter(path, xnnpack=False)
    ops = [o for o in it._get_ops_details() if o["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    convs = [
        l
        for l in model.layers
        if isinstance(l, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense))
    ]
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    if len(ops) != len(convs):
        raise DataError(
            f"{path}: {len(ops)} convolutions, but the Keras model has {len(convs)}: not the same architecture/alpha"
        )
    bn_iter = iter(bns)
    for op, layer in zip(ops, convs):
        w = _dequantized(it, op["inputs"][1])
        b = _dequantized(it, op["inputs"][2]) if len(op["inputs"]) > 2 and op["inputs"][2] >= 0 else None
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw = w.shape[1:3]
            kernel = w.reshape(kh, kw, -1, layer.depth_multiplier if hasattr(layer, "depth_multiplier") else 1)
        elif isinstance(layer, keras.layers.Conv2D):
            kernel = w.transpose(1, 2, 3, 0)  # OHWI -> HWIO
        else:  # Dense head from a 1x1 conv or FC: [out, (1, 1,) in] -> [in, out], background dropped
            kernel = w.reshape(w.shape[0], -1).T
            if kernel.shape[1] == layer.units + 1:
                kernel, b = kernel[:, 1:], b[1:]
        want = tuple(layer.get_weights()[0].shape)
        if kernel.shape != want:
            raise DataError(f"{path}: weight shape {kernel.shape} does not fit Keras layer {layer.name} {want}")
        if isinstance(layer, keras.layers.Dense) or layer.use_bias:
            layer.set_weights([kernel, b])
            continue
        layer.set_weights([kernel])
        bn = next(bn_iter)
        ch = kernel.shape[-1] * (kernel.shape[-2] if isinstance(layer, keras.layers.DepthwiseConv2D) else 1)
        bn.set_weights(
            [
                np.ones(ch, np.float32),
                b.astype(np.float32),
                np.zeros(ch, np.float32),
                np.full(ch, 1.0 - bn.epsilon, np.float32),
            ]
        )
