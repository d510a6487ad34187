"""The d2l book ("Dive into Deep Learning", PyPI package ``d2l``) on Ember, unchanged.

``d2l.torch`` is the book's PyTorch library; it imports under Ember's hook (``d2l.mxnet``,
``d2l.tensorflow`` and ``d2l.jax`` are the book's other editions and need those frameworks).
The chapter CNNs (LeNet, AlexNet, VGG, NiN, GoogLeNet, batch normalization from scratch and
with lazy layers, ResNet, DenseNet; tests/compat/d2l_chapters.py, the book's code) are built,
initialized lazily by ``apply_init``, and trained by ``d2l.Trainer.fit`` under torch and
Ember from the same weights: the losses it records and the weights it leaves agree. The
comparisons run in float64 (``model.double()`` before the lazy initialization) with dropout
off, so that they are exact but for summation order; images are the bundled MNIST digits,
padded to each network's input size (smaller than the book's 224x224, which lazy layers
allow).
"""
import pathlib

import numpy as np
import pytest

from tests.compat.script import run_script
from tests.harness import assert_close
from tests.torchvision_oracle import import_torchvision

CHAPTERS = pathlib.Path(__file__).with_name("d2l_chapters.py").read_text()


@pytest.fixture(scope="module")
def book():
    """The chapters' namespaces, run as written under torch and under Ember's hook."""
    import_torchvision()                  # d2l imports it; on a CPU machine it needs help
    return {"torch": run_script(CHAPTERS, "torch"), "ember": run_script(CHAPTERS, "compat")}


@pytest.fixture(scope="module")
def digits(mnist_digits):
    images, labels = mnist_digits
    return images[:12, None] / 255.0, labels[:12]


def test_the_library_runs_on_ember(book):
    d2l = book["ember"]["d2l"]
    assert d2l.torch.__name__ == "ember" and d2l.nn.__name__ == "ember.nn"
    assert d2l.torchvision.__name__ == "ember.vision"
    assert str(d2l.try_gpu()) == "cpu" and d2l.num_gpus() == 0 and d2l.try_all_gpus() == []


MODELS = [   # (the book's constructor, input size)
    ("d2l.LeNet(lr=0.1)", 28),
    ("AlexNet(lr=0.01)", 68),
    ("VGG(arch=((1, 16), (1, 32), (2, 64), (2, 128), (2, 128)), lr=0.01)", 32),
    ("NiN(lr=0.05)", 68),
    ("GoogleNet(lr=0.01)", 32),
    ("BNLeNetScratch(lr=0.1)", 28),
    ("BNLeNet(lr=0.1)", 28),
    ("ResNet18(lr=0.01)", 32),
    ("DenseNet(lr=0.01)", 32),
]


def _train(namespace, constructor, x, y):
    """The book's recipe: build, ``apply_init`` with a batch and ``init_cnn``, then
    ``Trainer(max_epochs=1).fit``; returns the model before and after training."""
    lib, d2l = namespace["torch"], namespace["d2l"]
    model = eval(constructor, namespace)
    model.double()                        # before initialization: the parameters will be
    model.board.display = False           # float64 (plots are drawn in test_utilities)
    for module in model.modules():        # dropout masks come from each library's generator
        if type(module).__name__ == "Dropout":
            module.p = 0.0
    data = namespace["ImageData"](lib.from_numpy(x[:8]), lib.from_numpy(y[:8]),
                                  lib.from_numpy(x[8:]), lib.from_numpy(y[8:]))
    model.apply_init([lib.from_numpy(x[:4])], d2l.init_cnn)
    return model, data, d2l.Trainer(max_epochs=1)


@pytest.mark.parametrize("constructor,size", MODELS, ids=[m[0].split("(")[0] for m in MODELS])
def test_chapter_model_trains_as_under_torch(book, digits, constructor, size):
    images, labels = digits
    pad = (size - 28) // 2
    x = np.pad(images, ((0, 0), (0, 0), (pad, size - 28 - pad), (pad, size - 28 - pad)))
    tm, t_data, t_trainer = _train(book["torch"], constructor, x, labels)
    em, e_data, e_trainer = _train(book["ember"], constructor, x, labels)
    assert repr(em) == repr(tm)           # the lazy layers became the book's eager ones
    assert type(em.net[0]).__name__ == type(tm.net[0]).__name__
    initial = {k: v.numpy().copy() for k, v in tm.state_dict().items()}
    assert list(em.state_dict()) == list(initial)
    em.load_state_dict(initial)
    for t_module, e_module in zip(tm.modules(), em.modules()):
        if hasattr(t_module, "moving_mean"):  # the scratch BatchNorm keeps them outside its
            lib = book["ember"]["torch"]      # state_dict; apply_init moved them
            e_module.moving_mean = lib.from_numpy(t_module.moving_mean.numpy().copy())
            e_module.moving_var = lib.from_numpy(t_module.moving_var.numpy().copy())
    t_trainer.fit(tm, t_data)
    e_trainer.fit(em, e_data)
    for key, t_points in tm.board.data.items():
        e_points = em.board.data[key]
        assert [p.x for p in e_points] == [p.x for p in t_points], key
        assert_close(np.array([float(p.y) for p in e_points]),
                     np.array([float(p.y) for p in t_points]), what=key)
    for name, value in tm.state_dict().items():
        assert_close(em.state_dict()[name].numpy(), value.numpy(), what=name)
    assert any(not np.array_equal(initial[k], v.numpy()) for k, v in em.state_dict().items()
               if v.dtype.is_floating_point), "training should move the weights"


UTILITIES = '''
import torch
from torch import nn
from d2l import torch as d2l

# 7.2 cross-correlation
X = torch.arange(9.0).reshape((3, 3))
K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
corr = d2l.corr2d(X, K)

# 14.4.3 labelling anchor boxes, 14.4.4 non-maximum suppression
ground_truth = torch.tensor([[0, 0.1, 0.08, 0.52, 0.92], [1, 0.55, 0.2, 0.9, 0.88]])
five = torch.tensor([[0, 0.1, 0.2, 0.3], [0.15, 0.2, 0.4, 0.4], [0.63, 0.05, 0.88, 0.98],
                     [0.66, 0.45, 0.8, 0.8], [0.57, 0.3, 0.92, 0.9]])
ious = d2l.box_iou(five, ground_truth[:, 1:])
offsets, mask, classes = d2l.multibox_target(five.unsqueeze(dim=0), ground_truth.unsqueeze(dim=0))
four = torch.tensor([[0.1, 0.08, 0.52, 0.92], [0.08, 0.2, 0.56, 0.95],
                     [0.15, 0.3, 0.62, 0.91], [0.55, 0.2, 0.9, 0.88]])
cls_probs = torch.tensor([[0] * 4, [0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.9]])
detections = d2l.multibox_detection(cls_probs.unsqueeze(dim=0),
                                    torch.tensor([0] * d2l.size(four) + [0.0] * 0).float()
                                    .reshape(1, -1), four.unsqueeze(dim=0), nms_threshold=0.5)
corners = d2l.box_center_to_corner(d2l.box_corner_to_center(four))

# 11.3 masked softmax, 11.5 multi-head attention, 11.6 positional encoding, 11.7 the
# Transformer encoder (lazy layers inside; dropout 0 so that both runs are exact)
masked = d2l.masked_softmax(torch.arange(16.0).reshape(2, 2, 4) / 10, torch.tensor([2, 3]))
queries = torch.arange(2 * 4 * 6, dtype=torch.float64).reshape(2, 4, 6) / 40
attention = d2l.MultiHeadAttention(num_hiddens=6, num_heads=2, dropout=0).double()
encoder = d2l.TransformerEncoder(vocab_size=20, num_hiddens=8, ffn_num_hiddens=16,
                                 num_heads=2, num_blks=2, dropout=0).double()
tokens = torch.tensor([[1, 4, 7, 2, 0], [3, 3, 9, 11, 19]])
lengths = torch.tensor([3, 5])
with torch.no_grad():                   # materialize the lazy layers
    attention(queries, queries, queries, lengths)
    encoder(tokens, lengths)
'''


def _tensors(value):
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _tensors(v)]
    return [value.detach().numpy()]


def test_utilities_and_attention_equal_torch(book):
    theirs, ours = run_script(UTILITIES, "torch"), run_script(UTILITIES, "compat")
    for name in ("corr", "ious", "offsets", "mask", "classes", "detections",
                 "corners", "masked"):
        for a, b in zip(_tensors(ours[name]), _tensors(theirs[name])):
            assert a.dtype == b.dtype, name
            assert_close(a, b, what=name)
    for module in ("attention", "encoder"):
        t_module, e_module = theirs[module], ours[module]
        assert repr(e_module) == repr(t_module)
        e_module.load_state_dict({k: v.numpy() for k, v in t_module.state_dict().items()})
    lib, t_lib = ours["torch"], theirs["torch"]
    q = ours["queries"].requires_grad_()
    tq = theirs["queries"].requires_grad_()
    ye = ours["attention"](q, q, q, ours["lengths"])
    yt = theirs["attention"](tq, tq, tq, theirs["lengths"])
    ye.sum().backward()
    yt.sum().backward()
    assert_close(ye.detach().numpy(), yt.detach().numpy(), what="attention")
    assert_close(q.grad.numpy(), tq.grad.numpy(), what="attention input grad")
    ze = ours["encoder"](ours["tokens"], ours["lengths"])
    zt = theirs["encoder"](theirs["tokens"], theirs["lengths"])
    # the book builds its positional encodings in float32 (sin and cos of each library's
    # float32 kernels): up to 8 float32 ulps apart
    assert_close(ze.detach().numpy(), zt.detach().numpy(), rtol=1e-6, atol=1e-6, what="encoder")
    assert lib.__name__ == "ember" and t_lib.__name__ == "torch"


PROGRESS = '''
import torch
from torch import nn
from d2l import torch as d2l

# 3.5 the concise linear regression: a LazyLinear, d2l's synthetic data and Trainer, with the
# progress board drawn (matplotlib); d2l shuffles the batches, so the runs compare in effect
data = d2l.SyntheticRegressionData(w=torch.tensor([2, -3.4]), b=4.2)
model = d2l.LinearRegression(lr=0.03)
d2l.Trainer(max_epochs=3).fit(model, data)
w, b = model.get_w_b()

# 7.6 / 6.x: the older train_ch6 loop with Animator, Accumulator, Timer, accuracy
net = nn.Sequential(nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(),
                    nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(), nn.Linear(6 * 14 * 14, 10))
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), 16)
d2l.train_ch6(net, loader, loader, 3, 0.1, d2l.try_gpu())
accuracy = d2l.evaluate_accuracy_gpu(net, loader)
'''


def test_training_loops_and_plots_run_and_learn(book, mnist_digits, capsys):
    x, y = mnist_digits
    x = (x[:160, None] / 255.0).astype(np.float32)
    results = {}
    for mode in ("torch", "compat"):
        lib = __import__("torch") if mode == "torch" else __import__("ember")
        ns = run_script(PROGRESS, mode, images=lib.from_numpy(x), labels=lib.from_numpy(
            y[:160]))
        printed = capsys.readouterr().out
        assert "training on cpu" in printed and "examples/sec on cpu" in printed
        results[mode] = ns
        np.testing.assert_allclose(ns["w"].numpy().ravel(), [2, -3.4], atol=0.05)
        np.testing.assert_allclose(ns["b"].numpy(), [4.2], atol=0.05)
        assert ns["model"].board.data["train_loss"][-1].y < 0.01
        assert ns["accuracy"] > 0.3     # chance: 0.1
    assert type(results["compat"]["net"][0]).__module__.startswith("ember")
