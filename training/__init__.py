"""seesay host-side training (TensorFlow/Keras). Imports device/ for what must match the device."""
