"""Model export (``nerkit export``): ONNX graphs and the ONNX Runtime backend."""
