"""The engine: from a model's name to mattes, in rooms that follow a model's way in.

- ``catalogue/``: what models exist and how each is run (specs, contracts, families, imports);
- ``acquisition/``: getting their files, checked by size and sha256;
- ``preparation/``: graphs derived once from a verified source (rewrites, int8);
- ``runtimes/``: the sessions (ONNX Runtime, OpenVINO, CUDA) and which one this machine gets;
- ``inference/``: pixels to a matte with an opened model;
- ``loader.py``: the one way through them, ``load_matter``; ``errors.py``: what they raise.

The engine reads no environment: directories, names and settings arrive as arguments
(``alphamatte.config`` reads ``ALPHAMATTE_*``; ``alphamatte.runtime`` passes them on).
"""
