import numpy as np
from keras import ops

from keras_vim.layers import TanhHead


def test_tanh_head_value(rng):
    inputs = rng.normal(size=(2, 3, 4)).astype("float32")
    head = TanhHead(hidden_dim=6, output_dim=5)
    outputs = ops.convert_to_numpy(head(inputs))
    w1, b1, w2, b2 = (ops.convert_to_numpy(w) for w in head.weights)
    np.testing.assert_allclose(outputs, np.tanh(inputs @ w1 + b1) @ w2 + b2, rtol=1e-5, atol=1e-5)
    assert TanhHead.from_config(head.get_config()).get_config() == head.get_config()
