"""Person detection: the YOLO detector, its exports (ONNX, OpenVINO, INT8), runtime and input size chosen here."""
