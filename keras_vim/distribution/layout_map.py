"""Layout maps: which kernels of keras_vim's Transformers are sharded over the "model" axis.

The rules follow Megatron-style tensor parallelism. In each Transformer block the query, key,
value and first MLP kernels are split by output column (each device holds some heads and some
MLP units), and the attention-output and second MLP kernels by input row, so each block needs
one reduction after attention and one after the MLP. Embedding tables are split along their
width. Every other variable (LayerNorms, the quantizer's codebook, the discriminator) is
replicated. The patterns match variable paths (`print(v.path)` for each `model.weights`), which
stay stable because every sublayer has a fixed name.
"""

import keras


def check_mesh_axes(device_mesh, model_axis, batch_axis):
    """Raises a ValueError unless `device_mesh` has both named axes."""
    if not isinstance(device_mesh, keras.distribution.DeviceMesh):
        raise TypeError(
            f"`device_mesh` must be a keras.distribution.DeviceMesh, got {device_mesh!r}."
        )
    for name, axis in (("model_axis", model_axis), ("batch_axis", batch_axis)):
        if axis not in device_mesh.axis_names:
            raise ValueError(
                f"`{name}`={axis!r} is not an axis of the device mesh (axes: "
                f"{list(device_mesh.axis_names)})."
            )


def transformer_layout_map(device_mesh, model_axis="model", batch_axis="batch"):
    """A `keras.distribution.LayoutMap` for the Transformer blocks and position embeddings.

    Args:
        device_mesh: a `keras.distribution.DeviceMesh` with a `model_axis` and a `batch_axis`.
        model_axis: the mesh axis the kernels are split over.
        batch_axis: the mesh axis the batch is split over (checked, not used by the layouts:
            `keras.distribution.ModelParallel(batch_dim_name=...)` shards the data).

    Returns:
        A `LayoutMap` whose regex keys match the variable paths of
        `keras_vim.layers.TransformerBlock` and `keras_vim.layers.PositionEmbedding2D`.
        `VitVQGAN.get_layout_map` and `VIM.get_layout_map` add their own embeddings.
    """
    check_mesh_axes(device_mesh, model_axis, batch_axis)
    column = (None, model_axis)  # split the output units
    row = (model_axis, None)  # split the input units
    layout_map = keras.distribution.LayoutMap(device_mesh)
    layout_map[r".*/attention/(query|key|value)/kernel"] = column
    layout_map[r".*/attention/(query|key|value)/bias"] = (model_axis,)
    layout_map[r".*/attention/attention_output/kernel"] = row
    layout_map[r".*/mlp_intermediate/kernel"] = column
    layout_map[r".*/mlp_intermediate/bias"] = (model_axis,)
    layout_map[r".*/mlp_output/kernel"] = row
    layout_map[r".*/position_embedding/(row|column)_embedding"] = column
    return layout_map


def add_layouts(layout_map, layouts):
    """Adds `{pattern: axes}` to `layout_map` and returns it."""
    for pattern, axes in layouts.items():
        layout_map[pattern] = axes
    return layout_map


def vit_vqgan_layout_map(device_mesh, model_axis="model", batch_axis="batch"):
    """The Transformer rules plus the tokenizer's patch embedding and tanh heads (whose hidden
    layer is `mlp_dim` wide, like the blocks' MLP)."""
    column, row = (None, model_axis), (model_axis, None)
    return add_layouts(
        transformer_layout_map(device_mesh, model_axis, batch_axis),
        {
            r".*/patch_embedding/projection/kernel": column,
            r".*/patch_embedding/projection/bias": (model_axis,),
            r".*/head/hidden/kernel": column,
            r".*/head/hidden/bias": (model_axis,),
            r".*/head/output_projection/kernel": row,
        },
    )


def vim_layout_map(device_mesh, model_axis="model", batch_axis="batch"):
    """The Transformer rules plus the prior's token and condition embeddings and its logits
    layer (split by code)."""
    column = (None, model_axis)
    return add_layouts(
        transformer_layout_map(device_mesh, model_axis, batch_axis),
        {
            r".*/token_embedding/embeddings": column,
            r".*/condition_embedding/embeddings": column,
            r".*/logits/kernel": column,
            r".*/logits/bias": (model_axis,),
        },
    )


def cnn_vqgan_layout_map(device_mesh, model_axis="model", batch_axis="batch"):
    """The CNN tokenizer's rules: every convolution kernel of the encoder and decoder split by
    output channel (with its bias); GroupNorms, the quantizer and the discriminator replicated.
    """
    check_mesh_axes(device_mesh, model_axis, batch_axis)
    return add_layouts(
        keras.distribution.LayoutMap(device_mesh),
        {
            r".*/(encoder|decoder)/.*conv\w*/kernel": (None, None, None, model_axis),
            r".*/(encoder|decoder)/.*conv\w*/bias": (model_axis,),
            r".*/(encoder|decoder)/.*shortcut/kernel": (None, None, None, model_axis),
            r".*/(encoder|decoder)/.*shortcut/bias": (model_axis,),
        },
    )
