"""seesay host-side converter: checkpoint -> verified TFLite bundle (+ Edge TPU / TensorRT variants)."""
