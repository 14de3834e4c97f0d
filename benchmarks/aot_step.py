"""One Keras training step compiled ahead of time (JAX) under a `keras_vim.distribution` setup,
without allocating the model: XLA's cost and memory analyses of the step a `fit` would run.

The model's variables and its optimizer's slots are created inside a
`keras.StatelessScope(initialize_variables=False)`: they get shapes, dtypes and the layouts the
distribution gives them, but no values, so a 1.7B-parameter prior "exists" on 8 virtual CPU
devices without its ~20 GB of state. The step (`model.train_step`, Keras' JAX entry point) is
then lowered on `jax.ShapeDtypeStruct`s carrying those shardings and compiled; the numbers are
the compiled per-device program's.
"""

import math
import time

import jax
import keras
import numpy as np


def _bytes(shape, dtype):
    return math.prod(shape) * np.dtype(dtype).itemsize


class CompiledStep:
    """What `compile_train_step` measured: the compiled step, the state's sizes, the time."""

    def __init__(self, compiled, state, seconds):
        self.compiled, self.seconds = compiled, seconds
        self.state = state  # part -> (global bytes, per-device bytes, sharded variables)

    def cost(self):
        analysis = self.compiled.cost_analysis()
        if isinstance(analysis, (list, tuple)):  # older jax: one dict per program
            analysis = analysis[0]
        return {
            "flops_per_device": float(analysis.get("flops", 0.0)),
            "bytes_accessed_per_device": float(analysis.get("bytes accessed", 0.0)),
        }

    def memory(self):
        """Per-device bytes. Peak = arguments + outputs - donated aliases + temporaries: the
        live set while the step runs (the state is donated, so its outputs reuse it)."""
        stats = self.compiled.memory_analysis()
        memory = {
            "argument_bytes": stats.argument_size_in_bytes,
            "output_bytes": stats.output_size_in_bytes,
            "alias_bytes": stats.alias_size_in_bytes,
            "temp_bytes": stats.temp_size_in_bytes,
            "generated_code_bytes": stats.generated_code_size_in_bytes,
        }
        memory["peak_bytes"] = (
            memory["argument_bytes"]
            + memory["output_bytes"]
            - memory["alias_bytes"]
            + memory["temp_bytes"]
        )
        return memory


def _specs(variables, distribution):
    """Abstract values with the shardings the distribution gives `variables`, and the
    (global, per-device) bytes and sharded count of that state."""
    specs, total, per_device, sharded = [], 0, 0, 0
    for variable in variables:
        sharding = variable._layout.backend_layout
        shape, dtype = tuple(variable.shape), variable.dtype
        specs.append(jax.ShapeDtypeStruct(shape, dtype, sharding=sharding))
        shard = sharding.shard_shape(shape)
        total += _bytes(shape, dtype)
        per_device += _bytes(shard, dtype)
        sharded += shard != shape
    return specs, (total, per_device, sharded)


def compile_train_step(setup, build, compile_model, inputs):
    """Compiles one `fit` step of the model `build()` returns, without running it.

    Args:
        setup: a JAX `keras_vim.distribution.DistributionSetup` (not "none").
        build: returns the model (its variables are created abstract).
        compile_model: `compile_model(model)` calls `model.compile(...)`; it runs with real
            values (the optimizer's step counter, metrics, loss networks: all small).
        inputs: the batch as `(shape, dtype)` pairs, in the order `fit` passes them.

    Returns:
        `(model, CompiledStep)`.
    """
    distribution = setup.distribution
    start = time.time()
    with setup.scope():
        with keras.StatelessScope(initialize_variables=False):
            model = build()
            # What initializing them would do (`JaxVariable._initialize_layout`): each variable
            # takes its layout from the distribution, and the optimizer's slots copy it.
            for variable in model.variables:
                variable._initialize_layout()
        compile_model(model)
        with keras.StatelessScope(initialize_variables=False):
            model.optimizer.build(model.trainable_variables)
        for variable in model.optimizer.variables + model.metrics_variables:
            variable._initialize_layout()  # the ones compile made, and the slots' (kept)
        parts = {
            "trainable": model.trainable_variables,
            "non_trainable": model.non_trainable_variables,
            "optimizer": model.optimizer.variables,
            "metrics": model.metrics_variables,
        }
        state, sizes = [], {}
        for name, variables in parts.items():
            specs, sizes[name] = _specs(variables, distribution)
            state.append(specs)
        data = tuple(
            jax.ShapeDtypeStruct(
                shape, dtype, sharding=distribution.get_data_layout(shape).backend_layout
            )
            for shape, dtype in inputs
        )
        shardings = tuple([spec.sharding for spec in part] for part in state)
        # As Keras' JAX trainer jits it (`make_train_function`): the state donated, the new
        # state sharded as the old.
        step = jax.jit(model.train_step, donate_argnums=0, out_shardings=(None, shardings))
        compiled = step.lower(tuple(state), data).compile()
    return model, CompiledStep(compiled, sizes, time.time() - start)
