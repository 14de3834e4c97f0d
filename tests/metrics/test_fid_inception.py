"""The Keras FID Inception against an independent PyTorch implementation of the published network.

The reference below follows pytorch-fid's FID Inception-v3 (TensorFlow's 2015-12-05 graph):
torchvision's Inception-v3 layout and state-dict names, with the FID block variants (average
pools that exclude padding in blocks A, C and the first E; a max pool in the last E block's pool
branch) and a 1008-way classifier. Both networks get the same random weights through a `.pth`
file, written here, that the Keras converter reads.
"""

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import keras_vim
from keras_vim.metrics import load_fid_inception
from keras_vim.metrics.fid_inception import fid_inception_preprocess


class Conv(nn.Module):
    def __init__(self, cin, cout, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def __call__(self, x):
        return F.relu(self.bn(self.conv(x)))


def _avg(x):
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class BlockA(nn.Module):
    def __init__(self, cin, pool_features):
        super().__init__()
        self.branch1x1 = Conv(cin, 64, 1)
        self.branch5x5_1 = Conv(cin, 48, 1)
        self.branch5x5_2 = Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = Conv(cin, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, padding=1)
        self.branch_pool = Conv(cin, pool_features, 1)

    def __call__(self, x):
        dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                dbl,
                self.branch_pool(_avg(x)),
            ],
            1,
        )


class BlockB(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = Conv(cin, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, stride=2)

    def __call__(self, x):
        dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), dbl, F.max_pool2d(x, 3, stride=2)], 1)


class BlockC(nn.Module):
    def __init__(self, cin, c7):
        super().__init__()
        self.branch1x1 = Conv(cin, 192, 1)
        self.branch7x7_1 = Conv(cin, c7, 1)
        self.branch7x7_2 = Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = Conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = Conv(cin, c7, 1)
        self.branch7x7dbl_2 = Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = Conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = Conv(cin, 192, 1)

    def __call__(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for i in range(1, 6):
            d = getattr(self, f"branch7x7dbl_{i}")(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg(x))], 1)


class BlockD(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1 = Conv(cin, 192, 1)
        self.branch3x3_2 = Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = Conv(cin, 192, 1)
        self.branch7x7x3_2 = Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = Conv(192, 192, 3, stride=2)

    def __call__(self, x):
        b7 = x
        for i in range(1, 5):
            b7 = getattr(self, f"branch7x7x3_{i}")(b7)
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class BlockE(nn.Module):
    def __init__(self, cin, max_pool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = Conv(cin, 320, 1)
        self.branch3x3_1 = Conv(cin, 384, 1)
        self.branch3x3_2a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = Conv(cin, 448, 1)
        self.branch3x3dbl_2 = Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = Conv(cin, 192, 1)

    def __call__(self, x):
        b3 = self.branch3x3_1(x)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(b3),
                self.branch3x3_2b(b3),
                self.branch3x3dbl_3a(d),
                self.branch3x3dbl_3b(d),
                self.branch_pool(pooled),
            ],
            1,
        )


class ReferenceFIDInception(nn.Module):
    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = Conv(80, 192, 3)
        self.Mixed_5b = BlockA(192, 32)
        self.Mixed_5c = BlockA(256, 64)
        self.Mixed_5d = BlockA(288, 64)
        self.Mixed_6a = BlockB(288)
        self.Mixed_6b = BlockC(768, 128)
        self.Mixed_6c = BlockC(768, 160)
        self.Mixed_6d = BlockC(768, 160)
        self.Mixed_6e = BlockC(768, 192)
        self.Mixed_7a = BlockD(768)
        self.Mixed_7b = BlockE(1280, max_pool=False)
        self.Mixed_7c = BlockE(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008)

    def __call__(self, x):
        """x: NCHW in [0, 1], already at the network's input size."""
        x = 2.0 * x - 1.0
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        pool = x.mean(dim=(2, 3))
        return pool, self.fc(pool)


def _random_reference(seed=0):
    """The reference with random weights that keep activations of order 1 through the net."""
    generator = torch.Generator().manual_seed(seed)
    model = ReferenceFIDInception().eval()

    def uniform(shape, low, high):
        return low + (high - low) * torch.rand(shape, generator=generator)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                std = (2.0 / fan_in) ** 0.5
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
            elif isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(uniform(n, 0.8, 1.2))
                module.bias.copy_(uniform(n, -0.1, 0.1))
                module.running_mean.copy_(uniform(n, -0.1, 0.1))
                module.running_var.copy_(uniform(n, 0.5, 1.5))
            elif isinstance(module, nn.Linear):
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * 0.05)
                module.bias.copy_(uniform(module.bias.shape, -0.1, 0.1))
    return model


@pytest.fixture(scope="module")
def ported(tmp_path_factory):
    """(reference, the Keras port loaded from the reference's `.pth` file, that file)."""
    torch.set_num_threads(1)
    reference = _random_reference()
    path = tmp_path_factory.mktemp("fid") / "pt_inception-random.pth"
    # The published file's layout: a plain state dict (BatchNorm's counters are ignored).
    torch.save(reference.state_dict(), path)
    return reference, load_fid_inception(str(path), resize=False), str(path)


def _reference_outputs(reference, images):
    with torch.no_grad():
        pool, logits = reference(torch.from_numpy(images.transpose(0, 3, 1, 2)))
    return pool.numpy(), logits.numpy()


# 107x107 (not 299) keeps the test fast; the last blocks still see a 2x2 grid, so their pools
# (padding-excluding average, max) matter. Three images in calls of two: the last is padded.
IMAGES = np.random.default_rng(0).uniform(size=(3, 107, 107, 3)).astype("float32")


def test_port_matches_the_reference_network(ported):
    reference, model, _ = ported
    outputs = keras_vim.metrics.inception_outputs(model, IMAGES, batch_size=2)
    pool, logits = _reference_outputs(reference, IMAGES)
    assert outputs["pool"].shape == (3, 2048) and outputs["logits"].shape == (3, 1008)
    assert np.std(pool) > 0.1 and np.std(logits) > 0.1  # activations survive the depth
    np.testing.assert_allclose(outputs["pool"], pool, rtol=1e-4, atol=1e-4 * np.abs(pool).max())
    np.testing.assert_allclose(
        outputs["logits"], logits, rtol=1e-4, atol=1e-4 * np.abs(logits).max()
    )


def test_fid_and_inception_score_of_images(ported):
    reference, model, _ = ported
    pool, logits = _reference_outputs(reference, IMAGES)
    fid = keras_vim.metrics.fid(model, IMAGES[:2], IMAGES[1:], batch_size=2)
    expected = keras_vim.metrics.frechet_distance(pool[:2], pool[1:])
    assert fid == pytest.approx(expected, rel=1e-3)
    score, _ = keras_vim.metrics.inception_score_of_images(model, IMAGES, splits=1, batch_size=2)
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    assert score == pytest.approx(keras_vim.metrics.inception_score(probabilities, 1)[0], 1e-4)
    assert score > 1.0


@pytest.mark.parametrize("shape", [(2, 32, 32, 1), (1, 320, 310, 3)])
def test_preprocess_matches_pytorch_fid_resize(shape):
    # pytorch-fid resizes with interpolate(bilinear, align_corners=False), then maps to [-1, 1].
    images = np.random.default_rng(1).uniform(size=shape).astype("float32")
    ours = keras.ops.convert_to_numpy(fid_inception_preprocess(images))
    x = torch.from_numpy(images.transpose(0, 3, 1, 2)).expand(-1, 3, -1, -1)
    expected = 2.0 * F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) - 1
    assert ours.shape == (shape[0], 299, 299, 3)
    # TensorFlow's float32 source coordinates differ in the last bits: up to ~3e-5 off.
    np.testing.assert_allclose(ours, expected.numpy().transpose(0, 2, 3, 1), atol=1e-4)
    eight_bit = np.round(images * 255).astype("uint8")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(fid_inception_preprocess(eight_bit)),
        keras.ops.convert_to_numpy(fid_inception_preprocess(eight_bit / np.float32(255))),
        atol=1e-6,
    )


def test_missing_or_wrong_weights_say_how_to_get_them(ported, tmp_path, monkeypatch):
    _, model, path = ported
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    for call in (lambda: load_fid_inception(), lambda: load_fid_inception(tmp_path / "no.pth")):
        with pytest.raises(FileNotFoundError, match="pytorch-fid/releases/download/fid_weights"):
            call()
    (tmp_path / "weights.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="weights_path"):
        load_fid_inception(tmp_path / "weights.npz")
    state = keras_vim.metrics.read_pytorch_state_dict(path)
    missing = {k: v for k, v in state.items() if k != "Conv2d_1a_3x3.conv.weight"}
    with pytest.raises(ValueError, match="lacks 'Conv2d_1a_3x3.conv.weight'"):
        keras_vim.metrics.set_fid_inception_weights(model, missing)
    with pytest.raises(ValueError, match="fc.weight"):  # torchvision's 1000-class classifier
        keras_vim.metrics.set_fid_inception_weights(
            model, {**state, "fc.weight": state["fc.weight"][:1000]}
        )
    with pytest.raises(ValueError, match="AuxLogits"):
        keras_vim.metrics.set_fid_inception_weights(
            model, {**state, "AuxLogits.fc.weight": np.zeros((1000, 768))}
        )
    # A network that was never loaded is refused before it computes meaningless features.
    kernel = keras.ops.convert_to_numpy(model.fc.kernel)
    model.fc.kernel.assign(np.zeros_like(kernel))
    try:
        with pytest.raises(ValueError, match="all-zero initial weights"):
            keras_vim.metrics.inception_outputs(model, IMAGES)
    finally:
        model.fc.kernel.assign(kernel)
    with pytest.raises(ValueError, match="1 or 3"):
        model.preprocess(np.zeros((1, 107, 107, 2), "float32"))
