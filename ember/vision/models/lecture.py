"""The lectures' own small networks.

- :class:`SampleCNN` — lecture 003 "样例卷积网络" (inventory D10): a 32x32x3 -> 10 classifier built from
  (conv 3x3 -> ReLU -> conv 3x3 -> ReLU -> max-pool 2x2) blocks with 10 filters each,
  32 -> 16 -> 8 -> 4, then either a fully connected layer on the 4x4x10 map (the lecture's
  first ending) or a 4x4 average pool and a 10 -> 10 layer (its "换个做法").
- :class:`OneVsSevenNet` — lecture 000 "Implement with PyTorch" (inventory D11, E2): three
  ``Fully_Connected_Layer(16, 16)`` (Linear + ReLU) and a ``judge_layer`` Linear(16, 1) on a
  flattened 4x4 image; ``out < 0`` means "1", ``out >= 0`` means "7".

LeNet-5 (lecture 004) is in :mod:`ember.vision.models.lenet`; the paper's AlexNet in
:mod:`ember.vision.models.alexnet`; MobileNet v1 in :mod:`ember.vision.models.mobilenet`.
"""
import ember
from ember import nn
from ember.vision.models._utils import _check_weights

__all__ = ["SampleCNN", "sample_cnn", "FullyConnectedLayer", "OneVsSevenNet", "one_vs_seven"]


class SampleCNN(nn.Module):
    """``(N, in_channels, 32, 32) -> (N, num_classes)``, lecture 003's sample CNN.

    ``features``: three blocks ``conv -> ReLU -> conv -> ReLU -> MaxPool2d(2, 2)`` of
    ``width`` filters 3x3, stride 1, pad 1 (the lecture omits "pad 1" in the second block,
    but its 16x16 output implies it). Parameters with the defaults: first conv
    ``(3*3*3)*10 + 10 = 280``, every other conv ``(3*3*10)*10 + 10 = 910``.

    ``ending="fc"``: ``classifier`` = flatten -> ``Linear(4*4*10, 10)``, ``10*4*4*10 + 10 =
    1610`` parameters. ``ending="avgpool"``: ``classifier`` = ``AvgPool2d(4)`` -> flatten ->
    ``Linear(10, 10)``, ``10*10 + 10 = 110`` parameters.
    """

    def __init__(self, num_classes=10, ending="fc", in_channels=3, width=10):
        super().__init__()
        if ending not in ("fc", "avgpool"):
            raise ValueError(f"SampleCNN: ending must be 'fc' or 'avgpool', got {ending!r}")
        self.ending = ending
        layers = []
        channels = in_channels
        for _ in range(3):
            layers += [nn.Conv2d(channels, width, 3, stride=1, padding=1), nn.ReLU(),
                       nn.Conv2d(width, width, 3, stride=1, padding=1), nn.ReLU(),
                       nn.MaxPool2d(2, 2)]
            channels = width
        self.features = nn.Sequential(*layers)
        if ending == "fc":
            self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(width * 4 * 4, num_classes))
        else:
            self.classifier = nn.Sequential(nn.AvgPool2d(4), nn.Flatten(),
                                            nn.Linear(width, num_classes))

    def forward(self, x):
        if tuple(x.shape[-2:]) != (32, 32):
            raise ValueError(f"SampleCNN: expected 32x32 inputs, got shape {tuple(x.shape)}")
        return self.classifier(self.features(x))


def sample_cnn(*, weights=None, **kwargs):
    """Lecture 003's sample CNN (:class:`SampleCNN`): ``num_classes=10``, ``ending='fc'``
    or ``'avgpool'``, ``in_channels=3``, ``width=10``. ``weights`` must be None."""
    _check_weights(weights, "sample_cnn", kwargs)
    return SampleCNN(**kwargs)


class FullyConnectedLayer(nn.Module):
    """Lecture 000's ``Fully_Connected_Layer``: ``relu(Linear_Layer(x))``,
    ``(N, in_dim) -> (N, out_dim)``. The attribute names are the lecture's, so are the
    ``state_dict`` keys (``Linear_Layer.weight``, ...)."""

    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.Linear_Layer = nn.Linear(in_dim, out_dim)
        self.activation = nn.ReLU()

    def forward(self, x):
        return self.activation(self.Linear_Layer(x))


class OneVsSevenNet(nn.Module):
    """Lecture 000's "1 vs 7" network: ``(N, in_dim) -> (N, 1)``,
    ``judge_layer(FC3(FC2(FC1(x))))``; a 4x4 image flattens to ``in_dim = 16``.

    :meth:`predict` applies the lecture's rule ``out < 0 -> 1, out >= 0 -> 7``, so when
    training with ``BCEWithLogitsLoss`` the target is 1 for a "7" and 0 for a "1".
    """

    def __init__(self, in_dim=16, hidden=16):
        super().__init__()
        self.FC1 = FullyConnectedLayer(in_dim, hidden)
        self.FC2 = FullyConnectedLayer(hidden, hidden)
        self.FC3 = FullyConnectedLayer(hidden, hidden)
        self.judge_layer = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.judge_layer(self.FC3(self.FC2(self.FC1(ember.flatten(x, 1)))))

    def predict(self, x):
        """The digit for each input, as an int64 tensor of shape ``(N,)``: 1 where the
        output is negative, 7 elsewhere."""
        with ember.no_grad():
            out = self.forward(x).reshape(-1)
        return ember.where(out < 0, ember.tensor(1), ember.tensor(7))


def one_vs_seven(*, weights=None, **kwargs):
    """Lecture 000's 1-vs-7 fully connected net (:class:`OneVsSevenNet`): ``in_dim=16``,
    ``hidden=16``. ``weights`` must be None."""
    _check_weights(weights, "one_vs_seven", kwargs)
    return OneVsSevenNet(**kwargs)
