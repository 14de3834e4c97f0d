#!/usr/bin/env bash
# The tutorials (tutorials/NN_name.py and the .ipynb generated from each), with their small
# setting: the notebooks must match their .py sources, run as notebooks on a real Jupyter
# kernel under JAX (nbmake), and the .py sources run as plain scripts under PyTorch and
# TensorFlow. Any error fails.
set -euo pipefail
cd "$(dirname "$0")/.."

python .ci/sync_tutorials.py --check

export KERAS_VIM_TUTORIAL_SMALL=1
KERAS_VIM_TUTORIAL_OUTPUT="$(mktemp -d)"
export KERAS_VIM_TUTORIAL_OUTPUT
trap 'rm -rf "$KERAS_VIM_TUTORIAL_OUTPUT"' EXIT

echo "=== tutorials as notebooks, KERAS_BACKEND=jax"
# The notebooks load the same presets: a compilation cache shared by their kernels saves
# compiling the same XLA programs again in each, and a low XLA optimisation level compiles
# faster (as in .ci/test.sh).
XLA_FLAGS="${XLA_FLAGS:-} --xla_backend_optimization_level=0 \
--xla_llvm_disable_expensive_passes=true" \
    JAX_COMPILATION_CACHE_DIR="$KERAS_VIM_TUTORIAL_OUTPUT/jax_cache" \
    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 KERAS_BACKEND=jax \
    python -m pytest -q -p no:cacheprovider --durations=0 --nbmake --nbmake-timeout=1200 \
    tutorials/[0-9]*.ipynb

# Runs every tutorial script under one backend; the log of a failure is printed.
run_scripts() {
    local backend=$1 log="$KERAS_VIM_TUTORIAL_OUTPUT/log_$1.txt" threads=()
    # One torch thread: with its default (one per core) and the other core busy, torch's
    # token-by-token sampler ran ~30x slower (spinning threads).
    if [ "$backend" = torch ]; then threads=(OMP_NUM_THREADS=1); fi
    # numpy's BLAS on one thread too (tutorial 04's L-BFGS probe): the two script runs share the
    # 2 cores, and OpenBLAS threads spin while they wait for a core.
    threads+=(OPENBLAS_NUM_THREADS=1)
    for tutorial in tutorials/[0-9]*.py; do
        local start=$SECONDS
        env "${threads[@]}" KERAS_BACKEND="$backend" python "$tutorial" > "$log" 2>&1 \
            || { echo "FAILED: $tutorial, KERAS_BACKEND=$backend"; cat "$log"; return 1; }
        echo "ok: $tutorial, KERAS_BACKEND=$backend, in $((SECONDS - start)) s"
    done
}

# The single-threaded torch runs go beside the TensorFlow ones (2 cores).
echo "=== tutorials as scripts, KERAS_BACKEND=torch and tensorflow"
run_scripts torch &
torch_job=$!
status=0
run_scripts tensorflow || status=1
wait "$torch_job" || status=1
if [ "$status" -ne 0 ]; then exit 1; fi
echo "tutorial scripts: all passed under torch and tensorflow"
