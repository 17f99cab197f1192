#!/bin/sh
# Container entry: the verified weights baked into the image are copied into the writable
# cache volume the first time; the server then prepares and measures them there once (under
# its file lock), and every later start, or replica sharing the volume, finds that done.
set -eu
models="${ALPHAMATTE_HOME:?}/models"
mkdir -p "$models"
for weights in /opt/alphamatte/seed/*.onnx; do
  [ -e "$models/$(basename "$weights")" ] || cp "$weights" "$models/"
done
exec "$@"
