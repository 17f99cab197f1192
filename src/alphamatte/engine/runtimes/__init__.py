"""Where a graph runs: ONNX Runtime, OpenVINO and CUDA sessions behind one ``Session``
protocol, and which of them (and which precision) this machine gets, measured once. A new
runtime goes here."""
