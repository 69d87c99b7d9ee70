"""The first tutorial's low-level ``DigitCNN``, rebuilt from TensorFlow 2's ops."""
