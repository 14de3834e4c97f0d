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
# compiling the same XLA programs again in each.
JAX_COMPILATION_CACHE_DIR="$KERAS_VIM_TUTORIAL_OUTPUT/jax_cache" \
    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 KERAS_BACKEND=jax \
    python -m pytest -q -p no:cacheprovider --durations=0 --nbmake --nbmake-timeout=1200 \
    tutorials/[0-9]*.ipynb

passed=0
for backend in torch tensorflow; do
    for tutorial in tutorials/[0-9]*.py; do
        echo "=== $tutorial, KERAS_BACKEND=$backend"
        start=$SECONDS
        # One torch thread: on 2 shared cores, torch's default (one per core) made the
        # token-by-token sampler ~30x slower (spinning threads).
        threads=()
        if [ "$backend" = torch ]; then threads=(OMP_NUM_THREADS=1); fi
        env "${threads[@]}" KERAS_BACKEND="$backend" python "$tutorial" \
            > "$KERAS_VIM_TUTORIAL_OUTPUT/log.txt" 2>&1 \
            || { cat "$KERAS_VIM_TUTORIAL_OUTPUT/log.txt"; exit 1; }
        echo "ok in $((SECONDS - start)) s"
        passed=$((passed + 1))
    done
done
echo "tutorial scripts: $passed passed, 0 failed"
