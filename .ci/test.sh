#!/usr/bin/env bash
# The test command of the README: the full suite once per Keras backend.
set -euo pipefail
cd "$(dirname "$0")/.."
for backend in jax torch tensorflow; do
    echo "=== KERAS_BACKEND=$backend"
    KERAS_BACKEND=$backend python -m pytest -q -p no:cacheprovider "$@"
done
