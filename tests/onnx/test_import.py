"""ember.onnx.load: ONNX graphs written by torch.onnx.export for torchvision's models (torch
is the oracle), single-operator graphs built with onnx.helper (ONNX Runtime is the oracle),
training through an imported graph, and clear errors for bad files."""
import io
import warnings

import numpy as np
import pytest

import ember
from tests.harness import assert_close
from tests.onnx.checks import assert_within_scale
from tests.torchvision_oracle import import_torchvision

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from ember.onnx import OnnxLoadError  # noqa: E402

INT64_MIN, INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max
ELEM = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64,
        np.dtype(np.bool_): TensorProto.BOOL, np.dtype(np.int32): TensorProto.INT32}


def _normal(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _run_ember(model, feeds):
    with ember.no_grad():
        out = model(*[ember.from_numpy(np.array(v)) for v in feeds])
    out = out if isinstance(out, tuple) else (out,)
    return [o.numpy() for o in out]


# ------------------------------------------------------------- single-operator graphs
def single_op_model(op_type, inputs, attributes=None, outputs=(np.float32,), opset=18,
                    initializers=()):
    """A one-node graph: ``inputs`` is a list of (name, array) — ``None`` for an omitted
    optional input — of which the names in ``initializers`` are stored as initializers."""
    node_inputs, graph_inputs, inits = [], [], []
    for name, array in inputs:
        if array is None:
            node_inputs.append("")
            continue
        node_inputs.append(name)
        array = np.asarray(array)
        if name in initializers:
            inits.append(onnx.numpy_helper.from_array(array, name))
        else:
            graph_inputs.append(helper.make_tensor_value_info(name, ELEM[array.dtype],
                                                              array.shape))
    out_names = [f"y{i}" for i in range(len(outputs))]
    node = helper.make_node(op_type, node_inputs, out_names, name="the_node",
                            **(attributes or {}))
    graph = helper.make_graph(
        [node], "g", graph_inputs,
        [helper.make_tensor_value_info(n, ELEM[np.dtype(t)], None)
         for n, t in zip(out_names, outputs)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset <= 18 else 10
    return model


X = _normal(2, 3, 7, 8)
X3 = _normal(2, 4, 5, seed=1)
W = _normal(4, 3, 3, 3, seed=2)
I64 = np.array([[3, -7, 2], [-4, 5, 9]], np.int64)

# (id, op_type, inputs, attributes, outputs' dtypes, opset, initializer names)
CASES = [
    ("conv_same_upper_stride", "Conv", [("x", X), ("w", W)],
     {"auto_pad": "SAME_UPPER", "strides": [2, 2]}, None, 18, ("w",)),
    ("conv_same_lower_stride", "Conv", [("x", X), ("w", W)],
     {"auto_pad": "SAME_LOWER", "strides": [3, 2]}, None, 18, ("w",)),
    ("conv_asymmetric_pads_bias", "Conv", [("x", X), ("w", W), ("b", _normal(4, seed=3))],
     {"pads": [0, 1, 2, 0]}, None, 18, ("w", "b")),
    ("conv_groups_valid", "Conv", [("x", _normal(1, 4, 6, 6)), ("w", _normal(6, 2, 3, 1))],
     {"group": 2, "auto_pad": "VALID"}, None, 18, ("w",)),
    ("conv_transpose", "ConvTranspose", [("x", X), ("w", _normal(3, 2, 3, 3, seed=4))],
     {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 0]}, None, 18, ("w",)),
    ("max_pool_asymmetric_wide_pads", "MaxPool", [("x", X)],
     {"kernel_shape": [3, 3], "pads": [2, 0, 1, 2], "strides": [2, 1]}, None, 18, ()),
    ("max_pool_ceil", "MaxPool", [("x", X)],
     {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1}, None, 18, ()),
    ("max_pool_same_upper", "MaxPool", [("x", X)],
     {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}, None, 18, ()),
    ("average_pool_exclude_asymmetric", "AveragePool", [("x", X)],
     {"kernel_shape": [3, 3], "pads": [1, 0, 0, 1]}, None, 18, ()),
    ("average_pool_include_asymmetric", "AveragePool", [("x", X)],
     {"kernel_shape": [2, 3], "pads": [1, 2, 0, 1], "count_include_pad": 1}, None, 18, ()),
    ("average_pool_symmetric_ceil", "AveragePool", [("x", X)],
     {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2], "ceil_mode": 1},
     None, 18, ()),
    ("global_average_pool", "GlobalAveragePool", [("x", X)], {}, None, 18, ()),
    ("global_max_pool", "GlobalMaxPool", [("x", X)], {}, None, 18, ()),
    ("batch_normalization", "BatchNormalization",
     [("x", X), ("s", _normal(3, seed=5)), ("b", _normal(3, seed=6)), ("m", _normal(3, seed=7)),
      ("v", np.abs(_normal(3, seed=8)) + 0.5)], {"epsilon": 1e-3}, None, 18,
     ("s", "b", "m", "v")),
    ("instance_normalization", "InstanceNormalization",
     [("x", X), ("s", _normal(3, seed=5)), ("b", _normal(3, seed=6))], {}, None, 18, ("s", "b")),
    ("layer_normalization_axis1", "LayerNormalization",
     [("x", X3), ("s", _normal(4, 5, seed=5)), ("b", _normal(4, 5, seed=6))], {"axis": 1},
     None, 18, ("s", "b")),
    ("layer_normalization_broadcast_scale", "LayerNormalization",
     [("x", X3), ("s", _normal(1, 5, seed=5))], {"epsilon": 0.1}, None, 18, ("s",)),
    ("group_normalization_opset21", "GroupNormalization",
     [("x", _normal(2, 4, 3, 3)), ("s", _normal(4, seed=5)), ("b", _normal(4, seed=6))],
     {"num_groups": 2}, None, 21, ("s", "b")),
    ("lrn", "LRN", [("x", _normal(2, 6, 3, 3))], {"size": 5, "alpha": 0.2, "beta": 0.6,
                                                  "bias": 1.5}, None, 18, ()),
    ("gemm_transposed_alpha_beta", "Gemm",
     [("a", _normal(5, 3)), ("b", _normal(4, 5, seed=1)), ("c", _normal(4, seed=2))],
     {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0}, None, 18, ("b", "c")),
    ("matmul_broadcast", "MatMul", [("a", _normal(2, 1, 3, 4)), ("b", _normal(5, 4, 2, seed=1))],
     {}, None, 18, ()),
    ("einsum", "Einsum", [("a", _normal(2, 3, 4)), ("b", _normal(2, 4, 5, seed=1))],
     {"equation": "bij,bjk->bik"}, None, 18, ()),
    ("softmax_opset11_flattens", "Softmax", [("x", X3)], {"axis": 1}, None, 11, ()),
    ("softmax_opset13", "Softmax", [("x", X3)], {"axis": 1}, None, 13, ()),
    ("log_softmax", "LogSoftmax", [("x", X3)], {}, None, 18, ()),
    ("clip_opset6_attributes", "Clip", [("x", X3)], {"min": -0.5, "max": 0.3}, None, 6, ()),
    ("clip_max_only", "Clip", [("x", X3), ("lo", None), ("hi", np.float32(0.2))], {}, None, 18,
     ("hi",)),
    ("gelu_tanh", "Gelu", [("x", X3)], {"approximate": "tanh"}, None, 20, ()),
    ("hard_sigmoid", "HardSigmoid", [("x", X3)], {"alpha": 0.3, "beta": 0.4}, None, 18, ()),
    ("hard_swish", "HardSwish", [("x", X3 * 4)], {}, None, 18, ()),
    ("leaky_relu", "LeakyRelu", [("x", X3)], {"alpha": 0.3}, None, 18, ()),
    ("prelu", "PRelu", [("x", X3), ("slope", _normal(4, 1, seed=3))], {}, None, 18, ("slope",)),
    ("elu", "Elu", [("x", X3)], {"alpha": 0.5}, None, 18, ()),
    ("selu", "Selu", [("x", X3)], {}, None, 18, ()),
    ("celu", "Celu", [("x", X3)], {"alpha": 2.0}, None, 18, ()),
    ("softplus", "Softplus", [("x", X3)], {}, None, 18, ()),
    ("softsign", "Softsign", [("x", X3)], {}, None, 18, ()),
    ("mish", "Mish", [("x", X3)], {}, None, 18, ()),
    *[(op.lower(), op, [("x", X3)], {}, None, 18, ())
      for op in ("Relu", "Sigmoid", "Tanh", "Neg", "Abs", "Exp", "Erf", "Floor", "Ceil", "Sin",
                 "Cos")],
    *[(op.lower(), op, [("x", np.abs(X3) + 0.1)], {}, None, 18, ())
      for op in ("Sqrt", "Log", "Reciprocal")],
    *[(op.lower(), op, [("a", X3), ("b", _normal(4, 1, seed=4))], {}, None, 18, ())
      for op in ("Add", "Sub", "Mul", "Div")],
    ("pow", "Pow", [("a", np.abs(X3) + 0.5), ("b", _normal(5, seed=4))], {}, None, 18, ()),
    ("div_integers_truncates", "Div", [("a", I64), ("b", np.array([2, -3, 4], np.int64))], {},
     (np.int64,), 18, ()),
    *[(op.lower(), op, [("a", X3), ("b", _normal(5, seed=4)), ("c", _normal(4, 1, seed=5))], {},
       None, 18, ()) for op in ("Max", "Min", "Sum", "Mean")],
    *[(op.lower(), op, [("a", X3), ("b", _normal(5, seed=4))], {}, (np.bool_,), 18, ())
      for op in ("Less", "Greater", "LessOrEqual", "GreaterOrEqual")],
    ("equal", "Equal", [("a", I64), ("b", np.array([3, 5, 0], np.int64))], {}, (np.bool_,), 18,
     ()),
    ("not", "Not", [("a", X3 > 0)], {}, (np.bool_,), 18, ()),
    *[(op.lower(), op, [("a", X3 > 0), ("b", X3 < 0.5)], {}, (np.bool_,), 18, ())
      for op in ("And", "Or")],
    ("where", "Where", [("c", X3 > 0), ("a", X3), ("b", _normal(5, seed=3))], {}, None, 18, ()),
    ("reduce_mean_axes_input", "ReduceMean", [("x", X), ("axes", np.array([1, -1]))],
     {"keepdims": 0}, None, 18, ("axes",)),
    ("reduce_sum_all", "ReduceSum", [("x", X)], {}, None, 18, ()),
    ("reduce_sum_noop_empty_axes", "ReduceSum", [("x", X3)], {"noop_with_empty_axes": 1}, None,
     18, ()),
    ("reduce_max_opset13_attribute", "ReduceMax", [("x", X)], {"axes": [2]}, None, 13, ()),
    ("reduce_min", "ReduceMin", [("x", X), ("axes", np.array([0]))], {}, None, 18, ("axes",)),
    *[(op.lower(), op, [("x", X), ("axes", np.array([1, 3]))], {"keepdims": k}, None, 18,
       ("axes",)) for op, k in (("ReduceProd", 1), ("ReduceL1", 0), ("ReduceL2", 1),
                                ("ReduceSumSquare", 0), ("ReduceLogSumExp", 1))],
    ("argmax", "ArgMax", [("x", X3)], {"axis": 1, "keepdims": 0}, (np.int64,), 18, ()),
    ("argmin", "ArgMin", [("x", X3)], {"axis": -1}, (np.int64,), 18, ()),
    ("reshape_zero_and_minus_one", "Reshape", [("x", X), ("s", np.array([0, -1, 4]))], {}, None,
     18, ("s",)),
    ("flatten", "Flatten", [("x", X)], {"axis": 2}, None, 18, ()),
    ("transpose_default", "Transpose", [("x", X)], {}, None, 18, ()),
    ("squeeze_opset11", "Squeeze", [("x", _normal(2, 1, 3, 1))], {"axes": [-1]}, None, 11, ()),
    ("squeeze_all_ones", "Squeeze", [("x", _normal(2, 1, 3, 1))], {}, None, 13, ()),
    ("unsqueeze_opset11", "Unsqueeze", [("x", X3)], {"axes": [0, 4]}, None, 11, ()),
    ("unsqueeze_negative", "Unsqueeze", [("x", X3), ("a", np.array([-1, 1]))], {}, None, 13,
     ("a",)),
    ("concat", "Concat", [("a", X3), ("b", _normal(2, 1, 5, seed=3))], {"axis": -2}, None, 18,
     ()),
    ("split_sizes_input", "Split", [("x", X3), ("s", np.array([1, 3]))], {"axis": 1},
     (np.float32, np.float32), 18, ("s",)),
    ("split_num_outputs_uneven", "Split", [("x", X3)], {"axis": 2, "num_outputs": 2},
     (np.float32, np.float32), 18, ()),
    ("split_opset11_equal", "Split", [("x", X3)], {"axis": 1}, (np.float32, np.float32), 11, ()),
    ("slice_negative_steps", "Slice",
     [("x", X), ("st", np.array([-1, 1])), ("en", np.array([INT64_MIN, 100])),
      ("ax", np.array([3, 1])), ("sp", np.array([-2, 1]))], {}, None, 18,
     ("st", "en", "ax", "sp")),
    ("slice_opset9_attributes", "Slice", [("x", X)],
     {"starts": [1, 0], "ends": [INT64_MAX, -2], "axes": [2, 3]}, None, 9, ()),
    ("gather_negative_indices", "Gather", [("x", X3), ("i", np.array([[0, -1], [2, 1]]))],
     {"axis": 1}, None, 18, ("i",)),
    ("gather_scalar", "Gather", [("x", X3), ("i", np.array(-2))], {"axis": 2}, None, 18, ("i",)),
    ("gather_nd", "GatherND", [("x", X3), ("i", np.array([[1, 2], [0, -1]]))], {}, None, 18,
     ("i",)),
    ("scatter_nd", "ScatterND", [("x", X3), ("i", np.array([[1, 2], [0, 3]])),
                                 ("u", _normal(2, 5, seed=4))], {}, None, 18, ("i",)),
    ("scatter_nd_add", "ScatterND", [("x", X3), ("i", np.array([[1], [1]])),
                                     ("u", _normal(2, 4, 5, seed=4))], {"reduction": "add"},
     None, 18, ("i",)),
    ("shape_start_end", "Shape", [("x", X)], {"start": 1, "end": -1}, (np.int64,), 18, ()),
    ("size", "Size", [("x", X)], {}, (np.int64,), 18, ()),
    ("expand_both_ways", "Expand", [("x", _normal(3, 1)), ("s", np.array([2, 1, 4]))], {}, None,
     18, ("s",)),
    ("tile", "Tile", [("x", X3), ("r", np.array([1, 2, 3]))], {}, None, 18, ("r",)),
    ("pad_constant_value", "Pad", [("x", X3), ("p", np.array([0, 1, 2, 0, 0, 1])),
                                   ("v", np.float32(0.5))], {}, None, 18, ("p", "v")),
    ("pad_reflect_axes", "Pad", [("x", X3), ("p", np.array([2, 1, 1, 2])), ("v", None),
                                 ("a", np.array([-1, 1]))], {"mode": "reflect"}, None, 18,
     ("p", "a")),
    ("pad_edge", "Pad", [("x", X3), ("p", np.array([0, 0, 3, 0, 0, 1]))], {"mode": "edge"}, None,
     18, ("p",)),
    ("pad_wrap", "Pad", [("x", X3), ("p", np.array([0, 0, 2, 0, 0, 1]))], {"mode": "wrap"}, None,
     19, ("p",)),
    ("pad_opset2_attributes", "Pad", [("x", X3)], {"pads": [0, 1, 0, 0, 1, 0], "value": 2.0},
     None, 2, ()),
    ("constant_of_shape", "ConstantOfShape", [("s", np.array([2, 3]))],
     {"value": helper.make_tensor("v", TensorProto.INT64, [1], [7])}, (np.int64,), 18, ("s",)),
    ("range_int", "Range", [("a", np.array(2)), ("b", np.array(11)), ("c", np.array(3))], {},
     (np.int64,), 18, ("a", "b", "c")),
    ("range_float", "Range", [("a", np.float32(0.5)), ("b", np.float32(-2.0)),
                              ("c", np.float32(-0.75))], {}, None, 18, ("a", "b", "c")),
    ("cast_to_int32", "Cast", [("x", X3 * 3)], {"to": TensorProto.INT32}, (np.int32,), 18, ()),
    ("identity", "Identity", [("x", X3)], {}, None, 18, ()),
    ("dropout_with_mask", "Dropout", [("x", X3)], {}, (np.float32, np.bool_), 18, ()),
    ("resize_nearest_scales", "Resize", [("x", X), ("roi", None),
                                         ("s", np.array([1, 1, 2, 1.5], np.float32))],
     {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
      "nearest_mode": "floor"}, None, 18, ("s",)),
    ("resize_nearest_half_pixel", "Resize", [("x", X), ("roi", None), ("s", None),
                                             ("z", np.array([2, 3, 5, 13]))],
     {"mode": "nearest", "coordinate_transformation_mode": "half_pixel",
      "nearest_mode": "round_prefer_ceil"}, None, 18, ("z",)),
    ("resize_linear_half_pixel", "Resize", [("x", X), ("roi", None), ("s", None),
                                            ("z", np.array([2, 3, 11, 5]))],
     {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, None, 18,
     ("z",)),
    ("resize_linear_align_corners", "Resize", [("x", X), ("roi", None),
                                               ("s", np.array([1, 1, 2, 2], np.float32))],
     {"mode": "linear", "coordinate_transformation_mode": "align_corners"}, None, 18, ("s",)),
    ("resize_cubic", "Resize", [("x", X), ("roi", None), ("s", None),
                                ("z", np.array([2, 3, 14, 16]))],
     {"mode": "cubic", "coordinate_transformation_mode": "half_pixel"}, None, 18, ("z",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_single_operator_matches_onnxruntime(case):
    _, op_type, inputs, attributes, outputs, opset, initializers = case
    model = single_op_model(op_type, inputs, attributes, outputs or (np.float32,), opset,
                            initializers)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    feeds = [(n, a) for n, a in inputs if a is not None and n not in initializers]
    expected = session.run(None, {n: np.asarray(a) for n, a in feeds})
    got = _run_ember(ember.onnx.load(model), [a for _, a in feeds])
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype
        assert_close(g, e, what=op_type)


def test_constant_node_values():
    nodes = [helper.make_node("Constant", [], ["c1"], value_float=2.5),
             helper.make_node("Constant", [], ["c2"], value_ints=[1, 2, 3]),
             helper.make_node("Constant", [], ["c3"],
                              value=onnx.numpy_helper.from_array(_normal(3), "t")),
             helper.make_node("Cast", ["c2"], ["c2f"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["x", "c1"], ["m"]),
             helper.make_node("Add", ["m", "c2f"], ["a"]),
             helper.make_node("Add", ["a", "c3"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, [2, 3])],
                              [helper.make_tensor_value_info("y", 1, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    x = _normal(2, 3)
    expected = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    assert_close(_run_ember(ember.onnx.load(model), [x])[0], expected)


# -------------------------------------------------------- graphs written by torch.onnx.export
def _torchvision():
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    return torch, import_torchvision()


def _torch_export(torch, model, example, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}}, dynamo=True, verbose=False)


TORCHVISION = [
    # (builder, keyword arguments, input size): small inputs and reduced widths, since
    # torch.onnx.export alone takes seconds per model; scripts/onnx_torchvision.py runs every
    # classification model of torchvision at 224x224 (ConvNeXt, EfficientNet, RegNet, Swin,
    # ViT, MaxViT, ...), and the single-operator cases above cover their operators
    ("resnet18", {"num_classes": 10}, 32),
    ("mobilenet_v3_small", {"num_classes": 10, "width_mult": 0.5}, 32),
    ("shufflenet_v2_x0_5", {"num_classes": 10}, 32),
]


@pytest.mark.parametrize("name, kwargs, size", TORCHVISION, ids=[t[0] for t in TORCHVISION])
def test_torchvision_model_exported_by_torch(tmp_path, name, kwargs, size):
    torch, torchvision = _torchvision()
    model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    torch.manual_seed(0)
    path = tmp_path / f"{name}.onnx"
    _torch_export(torch, model, torch.randn(2, 3, size, size), path)
    x = _normal(3, 3, size, size, seed=4)            # another batch size than the traced one
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    got = _run_ember(ember.onnx.load(path), [x])[0]
    # the target: max difference <= 1e-4 x the output's scale
    assert_within_scale(got, expected, 1e-4, f"{name}: ember.onnx.load vs torch")


def test_imported_graph_trains_like_the_torch_model(tmp_path):
    """Initializers become Parameters named as torch's state_dict; their gradients equal
    torch's for the same loss, and an optimizer step moves the imported model."""
    torch, _ = _torchvision()
    tnn = torch.nn
    torch.manual_seed(0)
    model = tnn.Sequential(tnn.Conv2d(3, 4, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                           tnn.Flatten(), tnn.Linear(4 * 4 * 4, 5)).eval()
    path = tmp_path / "small.onnx"
    _torch_export(torch, model, torch.randn(2, 3, 8, 8), path)
    imported = ember.onnx.load(path)
    params = dict(imported.named_parameters())
    assert set(params) == {"0.weight", "0.bias", "4.weight", "4.bias"}
    x, target = _normal(3, 3, 8, 8, seed=1), np.array([1, 4, 0])
    loss = ember.nn.functional.cross_entropy(imported(ember.from_numpy(x)),
                                             ember.from_numpy(target))
    loss.backward()
    torch_loss = tnn.functional.cross_entropy(model(torch.from_numpy(x)),
                                              torch.from_numpy(target))
    torch_loss.backward()
    assert_close(loss.item(), torch_loss.item())
    for name, p in model.named_parameters():
        assert_close(params[name].grad.numpy(), p.grad.numpy(), what=f"grad of {name}")
    before = imported(ember.from_numpy(x)).detach().numpy()
    ember.optim.SGD(imported.parameters(), lr=0.5).step()
    assert not np.allclose(imported(ember.from_numpy(x)).detach().numpy(), before)
    # state_dict round trip into a fresh import
    fresh = ember.onnx.load(path)
    fresh.load_state_dict(imported.state_dict())
    np.testing.assert_array_equal(fresh(ember.from_numpy(x)).detach().numpy(),
                                  imported(ember.from_numpy(x)).detach().numpy())


def test_running_statistics_are_buffers_and_names_are_sanitized():
    nodes = [helper.make_node("BatchNormalization", ["x", "bn/scale", "bn.bias", "bn.mean",
                                                     "bn.var"], ["y"])]
    inits = [onnx.numpy_helper.from_array(np.ones(3, np.float32), n)
             for n in ("bn/scale", "bn.bias", "bn.mean", "bn.var")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, [1, 3, 2])],
                              [helper.make_tensor_value_info("y", 1, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    imported = ember.onnx.load(model)
    assert set(dict(imported.named_parameters())) == {"bn_scale", "bn.bias"}
    assert set(dict(imported.named_buffers())) == {"bn.mean", "bn.var"}


# --------------------------------------------------------------------------- bad input
def _small_model_bytes():
    model = single_op_model("Relu", [("x", X3)])
    return model.SerializeToString()


def test_truncated_or_corrupt_file_one_line_naming_it(tmp_path):
    path = tmp_path / "model.onnx"
    data = single_op_model("Conv", [("x", X), ("w", W)], initializers=("w",)).SerializeToString()
    for broken in (data[:len(data) // 2], data[:-5], b"\x00\xff" * 40, b""):
        path.write_bytes(broken)
        with pytest.raises(OnnxLoadError) as info:
            ember.onnx.load(path)
        message = str(info.value)
        assert "model.onnx" in message and "\n" not in message
        assert "not a valid ONNX" in message or "cannot read initializer" in message


def test_unsupported_operators_are_listed_with_counts(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"]),
             helper.make_node("NonZero", ["a"], ["b"]),
             helper.make_node("CumSum", ["x", "ax"], ["c"]),
             helper.make_node("CumSum", ["x", "ax"], ["d"]),
             helper.make_node("FusedConv", ["x"], ["e"], domain="com.microsoft")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, [2])],
                              [helper.make_tensor_value_info(n, 1, None) for n in "bcde"],
                              [onnx.numpy_helper.from_array(np.array(0), "ax")])
    path = tmp_path / "custom.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    with pytest.raises(OnnxLoadError, match=r"'.*custom.onnx' uses operators Ember does not "
                                            r"implement: CumSum \(2 nodes\), NonZero \(1 node\), "
                                            r"com.microsoft::FusedConv \(1 node\)$"):
        ember.onnx.load(path)


def test_graph_reading_an_undefined_value():
    nodes = [helper.make_node("Add", ["x", "missing"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, [2])],
                              [helper.make_tensor_value_info("y", 1, None)])
    with pytest.raises(OnnxLoadError, match="Add node '' reads 'missing', which no earlier"):
        ember.onnx.load(helper.make_model(graph))


def test_wrong_inputs_and_arguments(tmp_path):
    model = ember.onnx.load(io.BytesIO(_small_model_bytes()))
    with pytest.raises(ValueError, match=r"input 'x' expects shape \(2, 4, 5\).*got \(2, 4\)"):
        model(ember.zeros(2, 4))
    with pytest.raises(TypeError, match=r"expected 1 input\(s\) \['x'\], got 2"):
        model(ember.zeros(2, 4, 5), ember.zeros(1))
    with pytest.raises(FileNotFoundError):
        ember.onnx.load(tmp_path / "missing.onnx")
    with pytest.raises(TypeError, match="expected a path, a binary file object"):
        ember.onnx.load(42)
    assert "Relu x1" in repr(model)


# ----------------------------------------------------------- ONNX models a PyPI wheel ships
OCR_MODELS = [
    # RapidOCR's PaddleOCR networks (opset 11/12, converted by paddle2onnx): text direction
    # classifier, text detector (DB, with Resize and ConvTranspose), text recognizer (SVTR,
    # with attention built from MatMul, Softmax, ReduceMean, Pow, Sqrt)
    ("ch_ppocr_mobile_v2.0_cls_infer", (2, 3, 48, 192)),
    ("ch_PP-OCRv4_det_infer", (1, 3, 64, 96)),
    ("ch_PP-OCRv4_rec_infer", (2, 3, 48, 160)),
]


@pytest.mark.parametrize("name, shape", OCR_MODELS, ids=[m[0] for m in OCR_MODELS])
def test_models_shipped_in_the_rapidocr_wheel(name, shape):
    import importlib.util
    import os
    spec = importlib.util.find_spec("rapidocr_onnxruntime")      # located, never imported
    if spec is None:
        pytest.skip("rapidocr-onnxruntime is not installed (the Makefile installs it)")
    model = onnx.load(os.path.join(os.path.dirname(spec.origin), "models", f"{name}.onnx"))
    # the detector ends in a sigmoid that saturates on random input: compare its logits too
    for node in model.graph.node:
        if node.op_type == "Sigmoid" and node.output[0] == model.graph.output[0].name:
            model.graph.output.append(helper.make_tensor_value_info(node.input[0], 1, None))
    x = np.random.default_rng(0).uniform(-1, 1, size=shape).astype(np.float32)
    expected = ort.InferenceSession(model.SerializeToString(),
                                    providers=["CPUExecutionProvider"]).run(None, {"x": x})
    got = _run_ember(ember.onnx.load(model), [x])
    for g, e in zip(got, expected):
        assert_close(g, e, rtol=0, atol=1e-4, what=name)
