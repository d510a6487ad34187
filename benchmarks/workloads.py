"""The benchmark workloads, written once against the torch API and run under either library.

Each workload is a builder ``build(lib, quick) -> step`` where ``lib`` is the ``ember`` or
the ``torch`` module and ``step()`` runs one timed iteration (a training step: forward,
cross-entropy, backward, SGD with momentum; an inference pass; or one op forward + backward).
Both libraries get the same NumPy input data (fixed seed) and models of identical
architecture built from ``lib.nn``; only the initial weights come from each library's own
initializer, which does not change the amount of work. The classical-vision workloads of
:mod:`benchmarks.classical` join them, compared with scipy, scikit-learn or scikit-image
(``AGAINST``) instead of PyTorch.
"""
import numpy as np

from benchmarks import classical, detection

SEED = 0


def _data(lib, *shape, classes=None):
    """A fixed float32 input batch (or int64 labels in ``[0, classes)``) as a ``lib`` tensor."""
    rng = np.random.default_rng(SEED + len(shape))
    if classes is not None:
        return lib.from_numpy(rng.integers(0, classes, size=shape).astype(np.int64))
    return lib.from_numpy(rng.standard_normal(shape, dtype=np.float32))


def _train_step(lib, model, x, y):
    """forward, cross-entropy, backward, SGD(momentum=0.9) — the lectures' training loop."""
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = lib.nn.CrossEntropyLoss()
    model.train()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


def _inference(lib, model, x):
    model.eval()

    def step():
        with lib.no_grad():
            model(x)
    return step


# --- models (the same definition for both libraries) -------------------------------------

def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                         nn.ReLU(), nn.Linear(128, 10))


def lenet5(lib):
    """LeNet-5 on 28x28 inputs as in the lectures: conv 5x5 (pad 2) 1->6, pool, conv 5x5
    6->16, pool, 400-120-84-10."""
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


def resnet18_cifar(lib, num_classes=10):
    """The standard CIFAR ResNet-18: 3x3 stem (64), no max-pool, BasicBlocks [2, 2, 2, 2] of
    widths 64-128-256-512, 1x1 projection shortcuts where the shape changes, global average
    pool, linear head."""
    nn = lib.nn
    F = nn.functional

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                              nn.BatchNorm2d(cout))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + self.shortcut(x))

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            layers, cin = [], 64
            for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                layers.append(nn.Sequential(BasicBlock(cin, cout, stride),
                                            BasicBlock(cout, cout, 1)))
                cin = cout
            self.layers = nn.Sequential(*layers)
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            out = self.layers(F.relu(self.bn1(self.conv1(x))))
            return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))

    return ResNet18()


def vit_small(lib, image=32, patch=4, dim=64, depth=2, heads=4, mlp_dim=128, num_classes=10):
    """A small Vision Transformer: patches of ``patch``x``patch`` flattened and embedded by a
    Linear, a class token and learned position embeddings, ``depth`` pre-norm blocks of
    multi-head self-attention and a GELU MLP, LayerNorm and a linear head on the class token."""
    nn = lib.nn
    grid = image // patch

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1 = nn.LayerNorm(dim)
            self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
            self.norm2 = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))

        def forward(self, x):
            h = self.norm1(x)
            x = x + self.attn(h, h, h, need_weights=False)[0]
            return x + self.mlp(self.norm2(x))

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(3 * patch * patch, dim)
            self.cls = nn.Parameter(lib.zeros(1, 1, dim))
            self.pos = nn.Parameter(0.02 * lib.randn(1, grid * grid + 1, dim))
            self.blocks = nn.Sequential(*[Block() for _ in range(depth)])
            self.norm = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, num_classes)

        def forward(self, x):
            n = x.shape[0]
            p = x.reshape(n, 3, grid, patch, grid, patch).permute(0, 2, 4, 1, 3, 5)
            tokens = self.embed(p.reshape(n, grid * grid, 3 * patch * patch))
            x = lib.cat([self.cls.expand(n, -1, -1), tokens], 1) + self.pos
            x = self.norm(self.blocks(x))
            return self.head(x[:, 0])

    return ViT()


def unet_small(lib, base_width=8, depth=4, num_classes=11):
    """A small U-Net for mnist-segment (lecture 004's U-Net, padded 3x3 convs with BatchNorm;
    by default base width 8, 4 levels: 486,499 parameters; the segmentation recipe trains
    it at ``CPU_WIDTHS["unet"]`` of ``ember.train.tasks.segmentation``):
    per level two 3x3 conv-BN-ReLU, 2x2 max-pool; a 2x2 stride-2 transposed conv up, the
    copied encoder map concatenated, two 3x3 conv-BN-ReLU; a 1x1 conv to the classes."""
    nn = lib.nn

    def double_conv(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU())

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            w = [base_width * 2 ** k for k in range(depth + 1)]
            self.encoder = nn.ModuleList([double_conv(a, b) for a, b in
                                          zip([1] + w[:depth - 1], w[:depth])])
            self.pool = nn.MaxPool2d(2)
            self.bottleneck = double_conv(w[depth - 1], w[depth])
            self.up = nn.ModuleList([nn.ConvTranspose2d(w[k + 1], w[k], 2, stride=2)
                                     for k in reversed(range(depth))])
            self.decoder = nn.ModuleList([double_conv(2 * w[k], w[k])
                                          for k in reversed(range(depth))])
            self.classifier = nn.Conv2d(w[0], num_classes, 1)

        def forward(self, x):
            skips = []
            for block in self.encoder:
                x = block(x)
                skips.append(x)
                x = self.pool(x)
            x = self.bottleneck(x)
            for up, block, skip in zip(self.up, self.decoder, reversed(skips)):
                x = block(lib.cat((skip, up(x)), 1))
            return self.classifier(x)
    return UNet()


def recurrent_classifier(lib, mode, input_size=128, hidden=256, layers=2, num_classes=10):
    """A ``mode`` (``"LSTM"`` or ``"GRU"``) of ``layers`` layers reading ``(N, T, input_size)``
    sequences, and a linear head on the last step's output."""
    nn = lib.nn

    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(nn, mode)(input_size, hidden, num_layers=layers, batch_first=True)
            self.head = nn.Linear(hidden, num_classes)

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    return Recurrent()


def transformer_encoder(lib, d_model=128, heads=4, layers=2, num_classes=10):
    """``nn.TransformerEncoder`` of ``layers`` post-norm layers (``dim_feedforward`` 4·d_model,
    dropout 0.1 as torch's default, batch first), mean-pooled, and a linear head."""
    nn = lib.nn

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=4 * d_model,
                                               batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.head = nn.Linear(d_model, num_classes)

        def forward(self, x):
            return self.head(self.encoder(x).mean(1))

    return Encoder()


# --- workloads -----------------------------------------------------------------------------

def _model_train(make, batch, shape, classes=10):
    def build(lib, quick):
        lib.manual_seed(SEED)
        return _train_step(lib, make(lib), _data(lib, batch, *shape),
                           _data(lib, batch, classes=classes))
    return build


def _segmentation_train(make, batch, shape, classes):
    """A training step on per-pixel labels ``(batch, H, W)`` (cross-entropy over the class
    scores ``(batch, classes, H, W)``)."""
    def build(lib, quick):
        lib.manual_seed(SEED)
        return _train_step(lib, make(lib), _data(lib, batch, *shape),
                           _data(lib, batch, *shape[1:], classes=classes))
    return build


def _model_infer(make, batch, shape):
    def build(lib, quick):
        lib.manual_seed(SEED)
        return _inference(lib, make(lib), _data(lib, batch, *shape))
    return build


def _op(fn, *shapes, target=None, namespace="nn.functional"):
    """One op forward + backward: ``fn(F, *inputs)`` on fresh leaf tensors of ``shapes``
    (plus int64 ``target`` labels as ``(batch, classes)`` if given), backpropagating a fixed
    upstream gradient; ``.grad`` is reset each step so no accumulation is timed. ``F`` is
    ``lib.nn.functional``, or ``lib.linalg`` with ``namespace="linalg"``."""
    def build(lib, quick):
        F = lib.linalg if namespace == "linalg" else lib.nn.functional
        inputs = [_data(lib, *s).requires_grad_(True) for s in shapes]
        extra = [] if target is None else [_data(lib, target[0], classes=target[1])]
        with lib.no_grad():
            out = fn(F, *inputs, *extra)
        upstream = _data(lib, *out.shape) if out.ndim else None

        def step():
            for t in inputs:
                t.grad = None
            fn(F, *inputs, *extra).backward(upstream)
        return step
    return build


def _is_ember(lib):
    return lib.__name__ == "ember"


def _grad_cam(make, batch, shape, layer):
    """Grad-CAM of class 3 at ``layer``, upsampled (bilinear) to the input: ``ember.interpret.
    grad_cam`` against Captum's ``LayerGradCam`` and ``LayerAttribution.interpolate``."""
    def build(lib, quick):
        lib.manual_seed(SEED)
        model, x = make(lib).eval(), _data(lib, batch, *shape)
        if _is_ember(lib):
            import ember.interpret as interpret
            return lambda: interpret.grad_cam(model, x, 3, layer)
        from captum.attr import LayerAttribution, LayerGradCam
        cam = LayerGradCam(model, model.get_submodule(layer))
        return lambda: LayerAttribution.interpolate(
            cam.attribute(x, 3, relu_attributions=True), shape[1:], "bilinear")
    return build


def _pgd(make, batch, shape, steps, epsilon=0.1):
    """L-inf PGD on the summed cross-entropy, ``steps`` steps of ``2.5 eps / steps`` clamped
    to [0, 1]: ``ember.interpret.pgd`` against Captum's ``PGD``."""
    def build(lib, quick):
        lib.manual_seed(SEED)
        model, x = make(lib).eval(), _data(lib, batch, *shape)
        y = _data(lib, batch, classes=10)
        alpha = 2.5 * epsilon / steps
        if _is_ember(lib):
            import ember.interpret as interpret
            return lambda: interpret.pgd(model, x, y, epsilon, steps=steps, step_size=alpha,
                                         bounds=(0, 1))
        from captum.robust import PGD
        attack = PGD(model, lambda out, t: lib.nn.functional.cross_entropy(
            out, t, reduction="none"), 0.0, 1.0)
        return lambda: attack.perturb(x, epsilon, alpha, steps, y)
    return build


def _batch_norm(F, x, w, b):
    return F.batch_norm(x, None, None, w, b, training=True)


def _polar(svd):
    """``U Vh``, the orthogonal factor of the polar decomposition (free of the SVD's signs)."""
    return svd.U @ svd.Vh


def _eigen_rebuild(eigh):
    """``V diag(L) V^T`` (free of the eigenvectors' signs)."""
    return (eigh.eigenvectors * eigh.eigenvalues.unsqueeze(-2)) @ eigh.eigenvectors.mT


WORKLOADS = {
    "mlp_b128_train": _model_train(mlp, 128, (1, 28, 28)),
    "lenet5_b64_train": _model_train(lenet5, 64, (1, 28, 28)),
    "lenet5_b256_train": _model_train(lenet5, 256, (1, 28, 28)),
    "lenet5_b64_infer": _model_infer(lenet5, 64, (1, 28, 28)),
    "lenet5_b256_infer": _model_infer(lenet5, 256, (1, 28, 28)),
    "resnet18_cifar_b32_train": _model_train(resnet18_cifar, 32, (3, 32, 32)),
    "vit_small_b64_train": _model_train(vit_small, 64, (3, 32, 32)),
    "unet_small_b16_64x64_train": _segmentation_train(unet_small, 16, (1, 64, 64), 11),
    # 2 layers, input 128, hidden 256, 32 steps, batch 64
    "lstm_2x256_seq32_b64_train": _model_train(lambda lib: recurrent_classifier(lib, "LSTM"),
                                               64, (32, 128)),
    "gru_2x256_seq32_b64_train": _model_train(lambda lib: recurrent_classifier(lib, "GRU"),
                                              64, (32, 128)),
    # d_model 128, 4 heads, 2 layers, 64 tokens, batch 32
    "transformer_encoder_d128_seq64_b32_train": _model_train(transformer_encoder, 32, (64, 128)),
    "conv2d_3x3_64_b128_fwdbwd": _op(lambda F, x, w, b: F.conv2d(x, w, b, padding=1),
                                     (128, 64, 32, 32), (64, 64, 3, 3), (64,)),
    "maxpool2d_2x2_b128_fwdbwd": _op(lambda F, x: F.max_pool2d(x, 2), (128, 64, 32, 32)),
    # U-Net's up-convolution: 2x2 kernel, stride 2, 64 -> 32 channels, 32x32 -> 64x64
    "conv_transpose2d_2x2s2_64to32_b32_fwdbwd": _op(
        lambda F, x, w, b: F.conv_transpose2d(x, w, b, stride=2), (32, 64, 32, 32),
        (64, 32, 2, 2), (32,)),
    "batchnorm2d_b128_fwdbwd": _op(_batch_norm, (128, 64, 32, 32), (64,), (64,)),
    "cross_entropy_b1024_c1000_fwdbwd": _op(lambda F, x, y: F.cross_entropy(x, y),
                                            (1024, 1000), target=(1024, 1000)),
    # batches of small matrices; each output is a basis-free function of the factors
    "linalg_svd_polar_b256_16x16_fwdbwd": _op(lambda L, a: _polar(L.svd(a, full_matrices=False)),
                                              (256, 16, 16), namespace="linalg"),
    "linalg_eigh_b256_16x16_fwdbwd": _op(lambda L, a: _eigen_rebuild(L.eigh(a)), (256, 16, 16),
                                         namespace="linalg"),
    "linalg_solve_b64_64x64_fwdbwd": _op(lambda L, a, b: L.solve(a, b), (64, 64, 64), (64, 64, 8),
                                         namespace="linalg"),
    # interpretability, against Captum 0.9 on the torch side
    "gradcam_resnet18_cifar_b8": _grad_cam(resnet18_cifar, 8, (3, 32, 32), "layers"),
    "pgd10_lenet5_b64": _pgd(lenet5, 64, (1, 28, 28), 10),
    # a tiny workload for the end-to-end smoke test
    "tiny_mlp_train": _model_train(lambda lib: lib.nn.Sequential(
        lib.nn.Flatten(), lib.nn.Linear(64, 32), lib.nn.ReLU(), lib.nn.Linear(32, 10)),
        16, (1, 8, 8)),
}

# (warm-up steps, timed steps per process) in full and --quick mode, by workload cost
REPEATS = {"resnet18_cifar_b32_train": ((1, 4), (1, 1)), "pgd10_lenet5_b64": ((2, 10), (1, 2)),
           "unet_small_b16_64x64_train": ((2, 10), (1, 2))}
DEFAULT_REPEATS = ((5, 30), (2, 5))

# detection: RoI Align, NMS and a small Faster R-CNN step against torchvision
# (benchmarks/detection.py)
WORKLOADS.update(detection.WORKLOADS)
REPEATS.update(detection.REPEATS)

# classical vision, against scipy / scikit-learn / scikit-image instead of torch
# (benchmarks/classical.py); AGAINST names the other side where it is not torch
WORKLOADS.update({name: ref.build for name, ref in classical.WORKLOADS.items()})
REPEATS.update(classical.REPEATS)
AGAINST = {name: ref.library for name, ref in classical.WORKLOADS.items()}

# run by default (the smoke workload only on request)
DEFAULT = [name for name in WORKLOADS if not name.startswith("tiny_")]
