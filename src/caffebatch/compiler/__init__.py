"""Compiling a Caffe net to ONNX: one converter per layer type, one loop over the layers."""
