"""An image classifier that reads the image as a sequence: one row per time step.

Lecture 004 "RNNs" (inventory B40) applies the same recurrence ``h_t = f(h_{t-1}, x_t)`` at
every step of a sequence; read row by row, a 28x28 digit is a sequence of 28 steps of 28
pixels, and the LSTM's state after the last row (B41) summarizes the whole image for a
linear classifier. A classic first exercise for recurrent networks, and ``ember train
--model lstm_mnist`` trains it from the command line.
"""
from ember import nn
from ember.vision.models._utils import _check_weights

__all__ = ["RowLSTMClassifier", "lstm_mnist"]


class RowLSTMClassifier(nn.Module):
    """``(N, in_channels, H, image_width) -> (N, num_classes)``: an ``nn.LSTM`` over the
    ``H`` rows (each row's ``in_channels · image_width`` values are one step's input), then
    ``fc``, a Linear layer on the last layer's final hidden state (both directions' when
    ``bidirectional``). ``dropout`` applies between LSTM layers."""

    def __init__(self, num_classes=10, in_channels=1, image_width=28, hidden_size=128,
                 num_layers=1, bidirectional=False, dropout=0.0):
        super().__init__()
        self.in_channels, self.image_width = in_channels, image_width
        self.lstm = nn.LSTM(in_channels * image_width, hidden_size, num_layers=num_layers,
                            batch_first=True, bidirectional=bidirectional, dropout=dropout)
        directions = 2 if bidirectional else 1
        self.fc = nn.Linear(directions * hidden_size, num_classes)

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[3] != self.image_width:
            raise ValueError(f"RowLSTMClassifier: expected images (N, {self.in_channels}, H, "
                             f"{self.image_width}), got {tuple(x.shape)}")
        n, c, h, w = x.shape
        rows = x.permute(0, 2, 1, 3).reshape(n, h, c * w)      # (N, steps, features)
        _, (h_n, _) = self.lstm(rows)
        directions = 2 if self.lstm.bidirectional else 1
        last = h_n[-directions:].permute(1, 0, 2).reshape(n, -1)
        return self.fc(last)


def lstm_mnist(*, weights=None, **kwargs):
    """The row-by-row LSTM classifier of 28x28 grey digits (:class:`RowLSTMClassifier`): 28
    steps of 28 pixels, one LSTM layer of 128 units, 10 classes (82,186 parameters). Any
    :class:`RowLSTMClassifier` argument may be changed."""
    config = dict(num_classes=10, in_channels=1, image_width=28, hidden_size=128)
    config.update(kwargs)
    _check_weights(weights, "lstm_mnist", config)
    return RowLSTMClassifier(**config)
