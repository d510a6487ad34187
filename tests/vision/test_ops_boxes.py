"""ember.vision.ops box functions and box losses against torchvision (values and gradients),
float64 finite differences, and the lectures' IoU (inventory C15)."""
import numpy as np
import pytest

import ember
from ember.vision import ops
from tests.harness import assert_close, check_parity, gradcheck64
from tests.vision.oracles import random_boxes, torchvision


def _ops(lib):
    return ops if lib is ember else torchvision()[1].ops


def test_iou_of_two_squares_by_hand():
    # inventory C15: |A ∩ B| / |A ∪ B|; 10x10 squares shifted by 5: 25 / (100 + 100 - 25)
    a = ember.tensor([[0.0, 0.0, 10.0, 10.0]])
    b = ember.tensor([[5.0, 5.0, 15.0, 15.0], [20.0, 20.0, 30.0, 30.0], [0.0, 0.0, 10.0, 10.0]])
    assert np.allclose(ops.box_iou(a, b).numpy(), [[25 / 175, 0.0, 1.0]])
    # GIoU of the disjoint pair: 0 - (30*30 - 200) / 900
    assert np.isclose(ops.generalized_box_iou(a, b).numpy()[0, 1], -700 / 900)


@pytest.mark.parametrize("fmt", ["xyxy", "xywh", "cxcywh"])
def test_box_iou_and_area_match_torchvision(fmt):
    rng = np.random.default_rng(0)
    b1, b2 = random_boxes(rng, 7, dtype=np.float64), random_boxes(rng, 5, dtype=np.float64)
    torch, tv = torchvision()
    c1 = tv.ops.box_convert(torch.from_numpy(b1), "xyxy", fmt).numpy()
    c2 = tv.ops.box_convert(torch.from_numpy(b2), "xyxy", fmt).numpy()
    check_parity(lambda lib, x, y: _ops(lib).box_iou(x, y, fmt=fmt), [c1, c2])
    check_parity(lambda lib, x: _ops(lib).box_area(x, fmt=fmt), [c1])


@pytest.mark.parametrize("fn", ["generalized_box_iou", "distance_box_iou", "complete_box_iou"])
def test_iou_family_matches_torchvision_with_leading_dims(fn):
    rng = np.random.default_rng(1)
    b1 = random_boxes(rng, 12, dtype=np.float64).reshape(2, 6, 4)
    b2 = random_boxes(rng, 8, dtype=np.float64).reshape(2, 4, 4)
    check_parity(lambda lib, x, y: getattr(_ops(lib), fn)(x, y), [b1, b2])
    check_parity(lambda lib, x, y: getattr(_ops(lib), fn)(x, y), [b1[0].astype(np.float32),
                                                                  b2[0].astype(np.float32)])


# complete_box_iou holds its alpha constant (no gradient through it), so finite differences
# do not apply to it; its gradient is compared with torchvision's above
@pytest.mark.parametrize("fn", ["box_iou", "generalized_box_iou", "distance_box_iou"])
def test_iou_family_finite_differences(fn):
    rng = np.random.default_rng(2)
    # overlapping boxes away from the kinks of min/max and clamp
    b1 = np.array([[1.0, 2.0, 11.0, 9.0], [3.0, 1.5, 8.0, 12.0]])
    b2 = b1 + rng.uniform(0.5, 1.5, b1.shape)
    assert gradcheck64(lambda x, y: getattr(ops, fn)(x, y), [b1, b2])


@pytest.mark.parametrize("pair", [("xyxy", "xywh"), ("xyxy", "cxcywh"), ("xywh", "cxcywh"),
                                  ("cxcywh", "xywh"), ("xywh", "xyxy"), ("cxcywh", "xyxy"),
                                  ("xyxy", "xyxy")])
def test_box_convert_matches_torchvision(pair):
    boxes = random_boxes(np.random.default_rng(3), 6, dtype=np.float64)
    check_parity(lambda lib, x: _ops(lib).box_convert(x, *pair), [boxes])


def test_integer_boxes_keep_integer_areas():
    torch, tv = torchvision()
    b = np.array([[0, 0, 4, 3], [1, 1, 5, 5]], dtype=np.int64)
    area = ops.box_area(ember.from_numpy(b))
    assert area.dtype == ember.int64 and area.tolist() == [12, 16]
    assert_close(ops.box_iou(ember.from_numpy(b), ember.from_numpy(b)).numpy(),
                 tv.ops.box_iou(torch.from_numpy(b), torch.from_numpy(b)).numpy())


def test_clip_remove_small_and_masks_to_boxes_match_torchvision():
    torch, tv = torchvision()
    rng = np.random.default_rng(4)
    boxes = rng.uniform(-10, 40, (9, 4)).astype(np.float32)
    boxes[:, 2:] += boxes[:, :2]
    assert_close(ops.clip_boxes_to_image(ember.from_numpy(boxes), (20, 30)).numpy(),
                 tv.ops.clip_boxes_to_image(torch.from_numpy(boxes), (20, 30)).numpy())
    assert (ops.remove_small_boxes(ember.from_numpy(boxes), 12.0).numpy()
            == tv.ops.remove_small_boxes(torch.from_numpy(boxes), 12.0).numpy()).all()
    masks = rng.random((5, 11, 13)) > 0.9
    masks[1] = False                                     # an empty mask: [0, 0, 0, 0]
    masks[2] = False
    masks[2, 4, 7] = True                                # one pixel: x1 == x2, y1 == y2
    got = ops.masks_to_boxes(ember.from_numpy(masks)).numpy()
    assert_close(got, tv.ops.masks_to_boxes(torch.from_numpy(masks)).numpy())
    assert got[2].tolist() == [7, 4, 7, 4] and got[1].tolist() == [0, 0, 0, 0]
    assert ops.masks_to_boxes(ember.zeros(0, 4, 4)).shape == (0, 4)


@pytest.mark.parametrize("loss", ["generalized_box_iou_loss", "distance_box_iou_loss",
                                  "complete_box_iou_loss"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_box_losses_match_torchvision(loss, reduction):
    rng = np.random.default_rng(5)
    b1 = random_boxes(rng, 10, dtype=np.float64)
    b2 = random_boxes(rng, 10, dtype=np.float64)
    b2[:3] = b1[:3] + 0.5                                # some overlapping pairs
    check_parity(lambda lib, x, y: getattr(_ops(lib), loss)(x, y, reduction=reduction), [b1, b2])


def test_box_losses_of_empty_sets_are_zero_with_a_gradient_path():
    boxes = ember.zeros(0, 4, requires_grad=True)
    loss = ops.generalized_box_iou_loss(boxes, ember.zeros(0, 4), reduction="mean")
    loss.backward()
    assert loss.item() == 0.0 and boxes.grad.shape == (0, 4)


@pytest.mark.parametrize("alpha, gamma", [(0.25, 2), (-1, 2), (0.5, 0), (1.0, 1.5)])
def test_sigmoid_focal_loss_matches_torchvision(alpha, gamma):
    rng = np.random.default_rng(6)
    logits = rng.normal(0, 2, (4, 5))
    targets = (rng.random((4, 5)) > 0.7).astype(np.float64)
    for reduction in ("none", "mean", "sum"):
        check_parity(lambda lib, x, y: _ops(lib).sigmoid_focal_loss(x, y, alpha, gamma, reduction),
                     [logits, targets], requires_grad=[True, False])


def test_focal_loss_weighs_easy_examples_down():
    # RetinaNet's point: a confident correct prediction costs (1 - p_t)^gamma of its BCE
    easy, hard = ember.tensor([4.0]), ember.tensor([-1.0])
    one = ember.tensor([1.0])
    ratio = (ops.sigmoid_focal_loss(easy, one, alpha=-1) /
             ember.nn.functional.binary_cross_entropy_with_logits(easy, one, reduction="none"))
    assert np.isclose(ratio.item(), (1 - 1 / (1 + np.exp(-4.0))) ** 2)
    assert ops.sigmoid_focal_loss(hard, one).item() > 50 * ops.sigmoid_focal_loss(easy, one).item()


def test_errors_name_the_function_and_the_shape():
    with pytest.raises(ValueError, match=r"box_iou: expected boxes1 of shape \(\.\.\., 4\), got "
                                         r"shape \(3, 5\)"):
        ops.box_iou(ember.zeros(3, 5), ember.zeros(2, 4))
    with pytest.raises(ValueError, match="box_convert: unsupported box format 'xywhr'"):
        ops.box_convert(ember.zeros(2, 4), "xyxy", "xywhr")
    with pytest.raises(ValueError, match="generalized_box_iou_loss: boxes1 .* must have the "
                                         "same shape"):
        ops.generalized_box_iou_loss(ember.zeros(2, 4), ember.zeros(3, 4))
    with pytest.raises(ValueError, match="sigmoid_focal_loss: alpha must lie in"):
        ops.sigmoid_focal_loss(ember.zeros(2), ember.zeros(2), alpha=2.0)
    with pytest.raises(ValueError, match="reduction must be 'none', 'mean' or 'sum'"):
        ops.sigmoid_focal_loss(ember.zeros(2), ember.zeros(2), reduction="max")
