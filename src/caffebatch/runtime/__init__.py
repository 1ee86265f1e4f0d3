"""Scoring compiled models with ONNX Runtime."""
