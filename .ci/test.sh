#!/usr/bin/env bash
# The test command of the README: the full suite once per Keras backend.
#
# The JAX suite runs beside the PyTorch and then the TensorFlow one: each is mostly one Python
# thread tracing and compiling small programs, so on a 2-core machine two side by side take
# about the time of the longer (torch keeps to one thread: tests/conftest.py). Each line of
# output starts with its backend's name.
set -euo pipefail
cd "$(dirname "$0")/.."
# JAX's share of the suite is mostly XLA compiling tiny models: a low optimisation level
# compiles ~30% faster (numerics differ by float32 rounding only). JAX runs only.
JAX_XLA_FLAGS="${XLA_FLAGS:-} --xla_backend_optimization_level=0 \
--xla_llvm_disable_expensive_passes=true"
# Each pytest process ends once it has reported, skipping the interpreter's teardown (minutes
# of garbage collection after a whole suite: tests/conftest.py).
export KERAS_VIM_TESTS_FAST_EXIT=1

# Runs a command with KERAS_BACKEND=$1 (and the JAX flags for JAX), its lines prefixed.
with_backend() {
    local backend=$1 label=$2 flags="${XLA_FLAGS:-}"
    shift 2
    if [ "$backend" = jax ]; then flags="$JAX_XLA_FLAGS${EXTRA_JAX_FLAGS:-}"; fi
    echo "=== [$label] KERAS_BACKEND=$backend $*"
    XLA_FLAGS="$flags" KERAS_BACKEND=$backend "$@" 2>&1 | sed -u "s/^/[$label] /"
}

# Runs two functions side by side; fails if either fails (after both have ended).
side_by_side() {
    "$1" &
    local first=$! status=0
    "$2" || status=1
    wait "$first" || status=1
    return "$status"
}

args=("$@")
pytest=(python -m pytest -q -p no:cacheprovider)
jax_suite() { with_backend jax jax "${pytest[@]}" "${args[@]}"; }
torch_then_tensorflow_suites() {
    with_backend torch torch "${pytest[@]}" "${args[@]}" &&
        with_backend tensorflow tensorflow "${pytest[@]}" "${args[@]}"
}
side_by_side jax_suite torch_then_tensorflow_suites

# Multi-device tests (keras_vim.distribution): the device count is fixed before the backend
# starts, so they run in processes of their own, after the full suite (not when a subset is asked).
jax_mesh() {
    EXTRA_JAX_FLAGS=" --xla_force_host_platform_device_count=8" \
        with_backend jax "jax, 8 devices" "${pytest[@]}" tests/distribution/mesh
}
tensorflow_mesh() {
    KERAS_VIM_TF_CPUS=2 with_backend tensorflow "tensorflow, 2 replicas" \
        "${pytest[@]}" tests/distribution/mesh
}
if [ "$#" -eq 0 ]; then
    side_by_side jax_mesh tensorflow_mesh
    # The tutorials: notebooks in sync, run as notebooks (JAX) and as scripts (torch, TF).
    bash .ci/tutorials.sh
fi
