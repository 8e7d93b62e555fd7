"""seesay device runtime: bundle -> camera -> caption -> speech. Never imports TensorFlow."""

__version__ = "0.1.0"
