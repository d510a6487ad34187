"""Scenario 3: the tensor and training idioms tutorials are made of, each run verbatim under
torch and under Ember; every value, shape, dtype and flag must agree."""
import numpy as np
import pytest

import ember
from tests.compat.script import run_script

TENSOR_IDIOMS = '''
import torch
import torch.nn as nn
import torch.nn.functional as F

r = {}
x = torch.arange(2 * 16 * 5 * 5).float().view(2, 16, 5, 5) / 100
r["view"] = x.view(-1, 16 * 5 * 5)
r["size0"] = x.size(0)
r["size1"] = x.size(1)
r["size"] = tuple(x.size())
r["shape_tail"] = x.shape[1:] == (16, 5, 5)
r["numel"] = x.shape.numel()
n, c, h, w = x.size()
r["unpack"] = (n, c, h, w)
a = torch.tensor([[1.0, -2.0, 3.0], [-4.0, 5.0, 0.5]])
y = torch.tensor([2, 1])
r["cat"] = torch.cat([a, a * 2], dim=1)
r["max_dim_idx"] = a.max(dim=1)[1]
r["max_values"] = a.max(1).values
r["torch_max"] = torch.max(a, 1)[0]
r["argmax_eq"] = a.argmax(1) == y
r["acc"] = (a.argmax(1) == y).float().mean()
r["correct"] = (a.argmax(1) == y).sum().item()
r["softmax"] = torch.softmax(a, dim=1)
r["F_softmax"] = F.softmax(a, dim=1)
r["log_softmax"] = a.log_softmax(dim=1)
r["unsqueeze"] = a.unsqueeze(0)
r["zeros_like"] = torch.zeros_like(a)
r["ones_like_int"] = torch.ones_like(y)
r["arange_float"] = torch.arange(5).float()
r["arange_dtype"] = torch.arange(5).dtype
r["mask"] = a[a > 0]
b = a.clone()
b += 1
b *= 2
b -= 0.5
b /= 4
r["inplace"] = b
r["clamp_min"] = a.clamp(min=0)
r["clamp"] = torch.clamp(a, -1, 1)
r["where"] = torch.where(a > 0, a, torch.zeros_like(a))
r["where_scalar"] = torch.where(a > 0, a, 0.0)
r["where_nonzero"] = torch.where(a > 0)
r["tensor_list"] = torch.tensor([0.1, 0.2, 0.3])
r["tensor_ints_dtype"] = torch.tensor([1, 2]).dtype
r["t_matmul"] = a.t() @ a
r["T_mm"] = a.T.mm(a)
r["type_legacy"] = torch.tensor([1, 2]).type(torch.FloatTensor)
r["type_string"] = torch.tensor([1.5, 2.5]).type("torch.LongTensor")
r["type_dtype"] = torch.tensor([1, 2]).type(torch.float64, non_blocking=True)
r["legacy_ctor"] = torch.LongTensor([1, 2])
r["legacy_empty_shape"] = torch.FloatTensor(2, 3).shape
r["type_name"] = (a.type().split(".")[-1], y.type().split(".")[-1])
r["module_type"] = nn.Linear(2, 2).type(torch.DoubleTensor).weight.dtype
r["legacy_isinstance"] = (isinstance(a, torch.FloatTensor), isinstance(y, torch.FloatTensor),
                          isinstance(y, torch.LongTensor))
r["sum_dims"] = x.sum(dim=(1, 2))
r["mean_hw"] = x.mean(dim=[2, 3], keepdim=True)
r["stack"] = torch.stack([a, a * 3], dim=1)
r["nhwc"] = x.permute(0, 2, 3, 1).contiguous().view(-1, 16)
r["contiguous"] = (x.permute(0, 2, 3, 1).is_contiguous(), x.is_contiguous())
r["flatten"] = torch.flatten(x, 1)
r["squeeze"] = torch.zeros(1, 3, 1).squeeze(-1).shape
r["topk"] = a.topk(2, dim=1)
r["sort_desc"] = a.sort(dim=1, descending=True)
r["gather"] = a.gather(1, torch.tensor([[0], [1]]))
r["one_hot"] = F.one_hot(torch.tensor([0, 2]), num_classes=3)
r["masked_fill"] = a.masked_fill(a < 0, 0)
r["item_types"] = (type(torch.tensor([3]).item()), type(torch.tensor(3.0).item()),
                   type(torch.tensor(True).item()))
r["float_of_tensor"] = float(a[0, 0])
loss = (a ** 2).mean()
r["f_string"] = (f"loss {loss:.4f}", f"{loss}", f"{torch.tensor(3):3d}", f"{a.sum(1)}")
r["len_iter"] = (len(a), [row.sum().item() for row in a])
r["int_div"] = torch.tensor([5, 7]) / 2
r["floor_div"] = torch.tensor([5, -7]) // 2
r["promote"] = (torch.tensor([1, 2]) + 0.5).dtype
r["norm"] = a.norm(dim=1)
r["std"] = a.std()
r["detach_numpy_shares"] = a.detach().numpy() is not None
s = torch.ones(3)
s.numpy()[0] = 7.0
r["numpy_shares_memory"] = s
r["from_numpy_f64"] = torch.from_numpy(np.zeros(2)).dtype
r["setitem_mask"] = a.clone()
r["setitem_mask"][r["setitem_mask"] < 0] = 0
'''

NN_IDIOMS = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

r = {}


@torch.no_grad()
def evaluate(model, x):
    return model(x)


@torch.no_grad
def evaluate_bare(model, x):
    return model(x)


net = nn.Linear(3, 2)
x = torch.ones(4, 3, requires_grad=True)
out = evaluate(net, x)
r["no_grad_decorator"] = (out.requires_grad, out.grad_fn is None, torch.is_grad_enabled())
out = evaluate_bare(net, x)
r["no_grad_bare"] = (out.requires_grad, torch.is_grad_enabled(), evaluate_bare.__name__)
with torch.no_grad():
    r["enable_grad_inside"] = (net(x) * 1).requires_grad
    with torch.enable_grad():
        r["enable_grad_inside"] = (r["enable_grad_inside"], (net(x) * 1).requires_grad)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
                                      nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.fc(self.dropout(x))


def init_fn(m):
    if isinstance(m, nn.Conv2d):
        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if m.bias is not None:
            nn.init.constant_(m.bias, 0)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.constant_(m.weight, 1)
        nn.init.constant_(m.bias, 0)
    elif isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, 0, 0.01)
        nn.init.zeros_(m.bias)


torch.manual_seed(0)
model = Net()
r["apply_returns_self"] = model.apply(init_fn) is model
r["kaiming_std_ratio"] = round(model.features[0].weight.std().item() / (2 / (8 * 9)) ** 0.5, 0)
r["bias_zero"] = model.features[0].bias.abs().sum().item()
r["init_flags"] = [(n, p.requires_grad, p.is_leaf) for n, p in model.named_parameters()]
model.load_state_dict({k: torch.from_numpy(v) for k, v in init_state.items()})

r["modes"] = [model.training, model.dropout.training]
model.eval()
r["modes"] += [model.training, model.features[1].training, model.dropout.training]
inp = torch.from_numpy(x_np)
with torch.no_grad():
    r["eval_out_1"] = model(inp)
    r["eval_out_2"] = model(inp)
model.train()
r["modes"] += [model.training, model.dropout.training]
train_out = model(inp)
r["dropout_zeros_some"] = bool((model.dropout(torch.ones(1000)) == 0).any())
r["running_mean_moved"] = model.features[1].running_mean
r["num_batches_tracked"] = model.features[1].num_batches_tracked.item()

optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.1)
model.dropout.p = 0.0  # deterministic training from here on, so the runs can be compared
lrs, norms, losses = [], [], []
for epoch in range(4):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(inp), torch.from_numpy(y_np))
    loss.backward()
    norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5).item())
    optimizer.step()
    lrs.append(optimizer.param_groups[0]["lr"])
    scheduler.step()
    losses.append(loss.item())
r["lrs"] = lrs
r["last_lr"] = scheduler.get_last_lr()
r["clip_norms"] = norms
r["losses"] = losses
r["grad_norm_after_clip"] = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters()))
r["state"] = {k: v.numpy().copy() for k, v in model.state_dict().items()}
'''


def _normalize(value):
    """Comparable plain Python/NumPy form of a result from either library."""
    import torch
    if isinstance(value, (torch.Tensor, ember.Tensor)):
        return np.asarray(value.detach().numpy())
    if isinstance(value, (torch.dtype, ember.dtype)):
        return str(value).split(".")[-1]
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_normalize(v) for v in value]
    return value


def _assert_same(actual, expected, what, rtol=1e-5, atol=1e-6):
    actual, expected = _normalize(actual), _normalize(expected)
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), (what, actual)
        assert actual.shape == expected.shape and actual.dtype == expected.dtype, (
            what, actual.shape, actual.dtype, expected.shape, expected.dtype)
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), what
        for k in expected:
            _assert_same(actual[k], expected[k], f"{what}[{k}]", rtol, atol)
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (what, actual)
        for i, (a, e) in enumerate(zip(actual, expected)):
            _assert_same(a, e, f"{what}[{i}]", rtol, atol)
    elif isinstance(expected, float):
        assert type(actual) is float, (what, actual)
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)
    else:
        assert type(actual) is type(expected) and actual == expected, (what, actual, expected)


def test_tensor_idioms_match_torch():
    ref = run_script(TENSOR_IDIOMS, "torch", np=np)["r"]
    out = run_script(TENSOR_IDIOMS, "ember", np=np)["r"]
    assert list(out) == list(ref)
    for key in ref:
        _assert_same(out[key], ref[key], key)


@pytest.fixture
def nn_inputs():
    import torch
    rng = np.random.default_rng(3)
    first = run_script(NN_IDIOMS.split("torch.manual_seed(0)")[0], "torch")
    torch.manual_seed(0)
    init = {k: v.numpy().copy() for k, v in first["Net"]().state_dict().items()}
    return dict(init_state=init, x_np=rng.standard_normal((6, 3, 8, 8)).astype(np.float32),
                y_np=rng.integers(0, 5, 6))


def test_training_idioms_match_torch(nn_inputs):
    ref = run_script(NN_IDIOMS, "torch", **nn_inputs)["r"]
    out = run_script(NN_IDIOMS, "ember", **nn_inputs)["r"]
    assert list(out) == list(ref)
    loose = {"state", "losses", "clip_norms", "grad_norm_after_clip"}  # 4 SGD steps of float32
    for key in ref:
        tol = dict(rtol=1e-4, atol=1e-5) if key in loose else {}
        _assert_same(out[key], ref[key], key, **tol)
    assert out["lrs"] == [0.1, 0.1, 0.010000000000000002, 0.010000000000000002]
    assert out["no_grad_bare"] == (False, True, "evaluate_bare")
    assert all(n > 0.5 for n in out["clip_norms"])  # clipping really happened
    np.testing.assert_allclose(out["grad_norm_after_clip"].item(), 0.5, rtol=1e-5)


NON_LEAF_GRAD = '''
import warnings
import torch

x = torch.ones(2, requires_grad=True)
y = x * 3
z = x * 4
z.retain_grad()
(y * z).sum().backward()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    y_grad, z_grad, x_grad = y.grad, z.grad, x.grad
    x.grad = None
    leaf_without_grad = torch.zeros(1).grad
warned = [str(w.message)[:60] for w in caught]
'''


def test_reading_grad_of_a_non_leaf_warns_like_torch():
    """The classic "why is my .grad None?": torch warns when a non-leaf's .grad is read."""
    ref = run_script(NON_LEAF_GRAD, "torch")
    out = run_script(NON_LEAF_GRAD, "ember")
    assert out["y_grad"] is None and ref["y_grad"] is None
    assert out["z_grad"].tolist() == ref["z_grad"].tolist() == [3.0, 3.0]
    assert out["x_grad"].tolist() == ref["x_grad"].tolist()
    assert out["leaf_without_grad"] is None
    assert out["warned"] == ref["warned"] == [
        "The .grad attribute of a Tensor that is not a leaf Tensor is"]
