"""The quantised TFLite ImageNet classifier, dequantised into Keras, classifies like the .tflite."""

import numpy as np

from device.preprocess import preprocess_file

from .conftest import FLICKR, need_flickr, need_weights


def test_tflite_import_agrees_with_the_tflite_classifier():
    need_flickr()
    path = need_weights("coral/tf2_mobilenet_v2_1.0_224_ptq.tflite")
    from training.backbone import build_classifier, classifier_with_scaling
    from training.weights_check import check, tflite_top1

    r = check(str(path), str(FLICKR / "images"), 200)
    print(r)
    assert r["images"] == 200 and r["top1_agreement"] >= 0.92 and r["tflite_top1_in_keras_top5"] >= 0.98

    files = sorted((FLICKR / "images").glob("*.jpg"))[:200]
    pixels = np.stack([preprocess_file(f) for f in files])
    ref = tflite_top1(path, pixels)
    random_clf = classifier_with_scaling(build_classifier("mobilenet_v2", 1.0, 224, "none"), "mobilenet_v2")
    rand_top1 = random_clf.predict(pixels.astype(np.float32), batch_size=50, verbose=0).argmax(1)
    assert float((rand_top1 == ref).mean()) < 0.05  # the test can fail: random weights do not pass it


def test_keras_h5_weights_load_by_path():
    path = need_weights("mobilenet_2_5_224_tf_no_top.h5")
    from training.backbone import build_backbone

    bb = build_backbone("mobilenet_v1", 0.25, 224, str(path))
    assert bb.output.shape[1:] == (7, 7, 256)
    import keras

    ref = keras.applications.MobileNet(input_shape=(224, 224, 3), alpha=0.25, include_top=False, weights=str(path))
    for name in ("conv1", "conv_pw_13"):
        got = bb.get_layer("mobilenet_v1_trunk").get_layer(name).get_weights()[0]
        assert np.array_equal(got, ref.get_layer(name).get_weights()[0])
