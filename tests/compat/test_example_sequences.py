"""pytorch/examples' recurrent programs in their shape, run unchanged under torch and under
Ember's hook from the same weights (float64, where the reports agree to the last printed
digit):

- ``time_sequence_prediction``: two stacked ``nn.LSTMCell`` (51 units) and a ``Linear`` read
  sine waves one step at a time, then predict the future from their own outputs; trained with
  ``optim.LBFGS`` and a closure on the ``MSELoss`` (lecture 004: the LSTM's gates, B36);
- ``mnist_rnn``: an ``nn.LSTM`` over the 28 rows of an MNIST digit (``batch_first``), the last
  step's output through a ``Linear`` and ``log_softmax``, ``nll_loss``, Adadelta with
  ``StepLR``, and the test report.
"""
import contextlib
import io

import numpy as np

import ember
from tests.compat.script import (assert_same_report, assert_same_shape_of_report, run_script,
                                 torch_state_as_numpy)

TIME_SEQUENCE_DEFINITIONS = '''
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


class Sequence(nn.Module):
    def __init__(self):
        super(Sequence, self).__init__()
        self.lstm1 = nn.LSTMCell(1, 51)
        self.lstm2 = nn.LSTMCell(51, 51)
        self.linear = nn.Linear(51, 1)

    def forward(self, input, future = 0):
        outputs = []
        h_t = torch.zeros(input.size(0), 51, dtype=input.dtype)
        c_t = torch.zeros(input.size(0), 51, dtype=input.dtype)
        h_t2 = torch.zeros(input.size(0), 51, dtype=input.dtype)
        c_t2 = torch.zeros(input.size(0), 51, dtype=input.dtype)

        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for i in range(future):# if we should predict the future
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        outputs = torch.cat(outputs, dim=1)
        return outputs
'''
TIME_SEQUENCE_MAIN = '''
# the example's generate_sine_wave.py, smaller: sine waves of period 20 with random shifts
np.random.seed(2)
T, L, N = 20, 60, 12
x = np.empty((N, L), 'int64')
x[:] = np.array(range(L)) + np.random.randint(-4 * T, 4 * T, N).reshape(N, 1)
data = np.sin(x / 1.0 / T).astype(DTYPE_NAME)

input = torch.from_numpy(data[3:, :-1])
target = torch.from_numpy(data[3:, 1:])
test_input = torch.from_numpy(data[:3, :-1])
test_target = torch.from_numpy(data[:3, 1:])
seq = Sequence().to(DTYPE)
seq.load_state_dict({k: torch.from_numpy(v) for k, v in init_state.items()})
criterion = nn.MSELoss()
optimizer = optim.LBFGS(seq.parameters(), lr=0.8)
for i in range(steps):
    print('STEP: ', i)
    def closure():
        optimizer.zero_grad()
        out = seq(input)
        loss = criterion(out, target)
        print('loss:', loss.item())
        loss.backward()
        return loss
    optimizer.step(closure)
    with torch.no_grad():
        future = 20
        pred = seq(test_input, future=future)
        loss = criterion(pred[:, :-future], test_target)
        print('test loss:', loss.item())
        y = pred.detach().numpy()
'''

MNIST_RNN_DEFINITIONS = '''
import torch
import torch.utils.data
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.rnn = nn.LSTM(input_size=28, hidden_size=64, batch_first=True)
        self.batchnorm = nn.BatchNorm1d(64)
        self.dropout1 = nn.Dropout2d(0.25)
        self.dropout2 = nn.Dropout2d(0.5)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, input):
        # Shape of input is (batch_size,1, 28, 28)
        # converting shape of input to (batch_size, 28, 28)
        # as required by RNN when batch_first is set True
        input = input.reshape(-1, 28, 28)
        output, hidden = self.rnn(input)

        # RNN output shape is (seq_len, batch, input_size)
        # Get last output of RNN
        output = output[:, -1, :]
        output = self.batchnorm(output)
        output = self.dropout1(output)
        output = self.fc1(output)
        output = F.relu(output)
        output = self.dropout2(output)
        output = self.fc2(output)
        output = F.log_softmax(output, dim=1)
        return output


def train(model, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % 2 == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))


def test(model, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()

    test_loss /= len(test_loader.dataset)
    print('\\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\\n'.format(
        test_loss, correct, len(test_loader.dataset),
        100. * correct / len(test_loader.dataset)))
'''
MNIST_RNN_MAIN = '''
train_set = torch.utils.data.TensorDataset(torch.from_numpy(train_x), torch.from_numpy(train_y))
test_set = torch.utils.data.TensorDataset(torch.from_numpy(test_x), torch.from_numpy(test_y))
train_loader = torch.utils.data.DataLoader(train_set, batch_size=16, shuffle=False)
test_loader = torch.utils.data.DataLoader(test_set, batch_size=32, shuffle=False)
model = Net().to(DTYPE)
model.load_state_dict({k: torch.from_numpy(v) for k, v in init_state.items()})
# each library draws its dropout masks its own way: the runs compare the network without them
model.dropout1.p = model.dropout2.p = 0.0
optimizer = optim.Adadelta(model.parameters(), lr=1.0)
scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
for epoch in range(1, epochs + 1):
    train(model, train_loader, optimizer, epoch)
    test(model, test_loader)
    scheduler.step()
'''


def _report(src, mode, **inputs):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        namespace = run_script(src, mode, **inputs)
    return namespace, out.getvalue()


def _runs(definitions, main, init_state, inputs, float32=True, **extra):
    """The script under torch (float64) and under Ember's hook (float64, and float32 unless
    told not to): ``{run: (namespace, report)}``."""
    import torch
    runs = {}
    for run, mode, lib, dtype in (("torch", "torch", torch, "float64"),
                                  ("ember", "compat", ember, "float64"),
                                  ("ember32", "compat", ember, "float32"))[:3 if float32 else 2]:
        data = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in inputs.items()}
        state = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in init_state.items()}
        runs[run] = _report(definitions + main, mode, init_state=state, DTYPE=getattr(lib, dtype),
                            DTYPE_NAME=dtype, **data, **extra)
    return runs


def test_time_sequence_prediction_matches_torch():
    import torch
    torch.manual_seed(0)
    init_state = torch_state_as_numpy(
        run_script(TIME_SEQUENCE_DEFINITIONS, "torch")["Sequence"]().state_dict())
    # float64 only: how many times LBFGS evaluates its closure before a tolerance stops it
    # depends on the rounding of the run
    runs = _runs(TIME_SEQUENCE_DEFINITIONS, TIME_SEQUENCE_MAIN, init_state, {}, float32=False,
                 steps=2)
    assert_same_report(runs["ember"][1], runs["torch"][1])
    assert runs["ember"][1].count("loss:") > 4          # LBFGS evaluated its closure repeatedly
    np.testing.assert_allclose(runs["ember"][0]["y"], runs["torch"][0]["y"], rtol=0, atol=1e-9)
    assert runs["ember"][0]["y"].shape == (3, 59 + 20)


def test_mnist_rnn_matches_torch(mnist_digits):
    import torch
    images, labels = mnist_digits
    x = (images[:96] / 255.0 - 0.1307) / 0.3081
    inputs = dict(train_x=x[:64, None], train_y=labels[:64], test_x=x[64:, None],
                  test_y=labels[64:96])
    torch.manual_seed(1)
    init_state = torch_state_as_numpy(
        run_script(MNIST_RNN_DEFINITIONS, "torch")["Net"]().state_dict())
    runs = _runs(MNIST_RNN_DEFINITIONS, MNIST_RNN_MAIN, init_state, inputs, epochs=2)
    assert_same_report(runs["ember"][1], runs["torch"][1])
    assert_same_shape_of_report(runs["ember32"][1], runs["ember"][1])
    assert "Test set: Average loss" in runs["ember"][1]
