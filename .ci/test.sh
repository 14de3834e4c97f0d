#!/usr/bin/env bash
# The test command of the README: the full suite once per Keras backend.
set -euo pipefail
cd "$(dirname "$0")/.."
# JAX's share of the suite is mostly XLA compiling tiny models: a low optimisation level
# compiles ~30% faster (numerics differ by float32 rounding only). JAX runs only.
JAX_XLA_FLAGS="${XLA_FLAGS:-} --xla_backend_optimization_level=0 \
--xla_llvm_disable_expensive_passes=true"
for backend in jax torch tensorflow; do
    echo "=== KERAS_BACKEND=$backend"
    flags="${XLA_FLAGS:-}"
    if [ "$backend" = jax ]; then flags="$JAX_XLA_FLAGS"; fi
    XLA_FLAGS="$flags" KERAS_BACKEND=$backend python -m pytest -q -p no:cacheprovider "$@"
done
# Multi-device tests (keras_vim.distribution): the device count is fixed before the backend
# starts, so they run in processes of their own, after the full suite (not when a subset is asked).
if [ "$#" -eq 0 ]; then
    echo "=== 8 virtual JAX devices: tests/distribution/mesh"
    XLA_FLAGS="$JAX_XLA_FLAGS --xla_force_host_platform_device_count=8" \
        KERAS_BACKEND=jax python -m pytest -q -p no:cacheprovider tests/distribution/mesh
    echo "=== 2 TensorFlow replicas: tests/distribution/mesh"
    KERAS_VIM_TF_CPUS=2 KERAS_BACKEND=tensorflow \
        python -m pytest -q -p no:cacheprovider tests/distribution/mesh
    # The tutorials: notebooks in sync, run as notebooks (JAX) and as scripts (torch, TF).
    bash .ci/tutorials.sh
fi
