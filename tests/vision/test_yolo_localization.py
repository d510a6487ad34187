"""The lectures' single-stage detector (YOLO: S x S x (5B + C), inventory D18) and
classification with localization (the p_c target and loss, inventory C6, E5), and the small
backbones the CPU detectors use."""
import numpy as np
import pytest

import ember
from ember.vision.models.detection.localization import (LocalizationNet, decode_localization,
                                                         localization_loss, localization_target)
from ember.vision.models.detection.small import SmallBackbone, fasterrcnn_small, maskrcnn_small
from ember.vision.models.detection.yolo import YOLO, yolo_small
from tests.harness import gradcheck64


def _targets(*boxes_labels):
    return [{"boxes": ember.tensor(np.asarray(b, np.float32).reshape(-1, 4)),
             "labels": ember.tensor(np.asarray(l, np.int64))} for b, l in boxes_labels]


def test_yolo_output_is_s_by_s_by_5b_plus_c():
    model = yolo_small(num_classes=11, boxes_per_cell=3)
    grid = model.grid([ember.rand(1, 64, 64), ember.rand(1, 64, 64)])
    assert tuple(grid.shape) == (2, 16, 16, 5 * 3 + 11)
    pooled = YOLO(SmallBackbone(1), num_classes=4, grid_size=7)        # the lecture's 7 x 7
    assert tuple(pooled.grid([ember.rand(1, 64, 64)]).shape) == (1, 7, 7, 5 * 2 + 4)


def test_yolo_assigns_each_object_to_its_cell_and_best_box():
    model = yolo_small(num_classes=4, boxes_per_cell=2)
    out = np.zeros((1, 16, 16, 14), np.float32)
    # box 1 of cell (row 2, col 3) predicts a 16x16 box centred in the cell, box 0 a tiny one
    out[0, 2, 3, 5:9] = [0, 0, np.log(1 / 3), np.log(1 / 3)]        # sigma = 1/4: 16 px
    out[0, 2, 3, 0:4] = [0, 0, -4, -4]
    target = _targets(([[6.0, 2.0, 22.0, 18.0], [40, 40, 44, 60], [41, 41, 43, 59]], [2, 1, 3]))
    responsible, box_target, cls = model._assign(out, target, (64, 64))
    assert responsible.sum() == 2 and responsible[0, 2, 3, 1] and not responsible[0, 2, 3, 0]
    # centre (14, 10) in cells of 4: offsets (0.5, 0.5) in cell (2, 3); sqrt(16 / 64) = 0.5
    assert np.allclose(box_target[0, 2, 3, 1], [0.5, 0.5, 0.5, 0.5])
    # two objects in cell (12, 10): the larger one (label 1) claims it
    assert cls[0, 12, 10] == 1 and cls[0, 2, 3] == 2 and (cls >= 0).sum() == 2


def test_yolo_losses_train_and_tolerate_empty_images():
    ember.manual_seed(0)
    model = yolo_small(num_classes=4)
    images = [ember.rand(1, 64, 64), ember.rand(1, 64, 64)]
    targets = _targets(([[4.0, 4, 30, 36]], [1]), (np.zeros((0, 4)), []))
    # Adam: SGD with momentum on two images flips the responsible box back and forth and
    # stalls on plateaus whose timing depends on the CPU's kernels
    opt = ember.optim.Adam(model.parameters(), lr=1e-3)
    first = None
    for _ in range(30):
        losses = model(images, targets)
        assert set(losses) == {"loss_box", "loss_object", "loss_noobject", "loss_class"}
        total = sum(losses.values())
        first = total.item() if first is None else first
        opt.zero_grad()
        total.backward()
        opt.step()
    assert total.item() < 0.2 * first                # 2.35 -> 0.01 here: a wide margin
    empty = model(images[1:], targets[1:])
    assert all(np.isfinite(v.item()) for v in empty.values()) and empty["loss_class"].item() == 0
    with pytest.raises(ValueError, match=r"target labels must lie in \[1, 3\]"):
        model(images[:1], _targets(([[1.0, 1, 5, 5]], [4])))
    with pytest.raises(ValueError, match="expected images of one shape"):
        model([ember.rand(1, 64, 64), ember.rand(1, 32, 32)], targets)


def test_yolo_postprocess_decodes_and_suppresses():
    model = yolo_small(num_classes=3, boxes_per_cell=2, score_thresh=0.3)
    out = np.full((1, 16, 16, 13), -10.0, np.float32)
    out[0, 5, 6, [4, 9]] = 10.0                              # both boxes of the cell confident
    out[0, 5, 6, 0:4] = [0, 0, 0, 0]                         # centre of the cell, half the image
    out[0, 5, 6, 5:9] = [0.1, 0, 0, 0]                       # almost the same box: suppressed
    out[0, 5, 6, 10:] = [0, 0, 10]                           # class 2
    result = model.postprocess(out, (64, 64))[0]
    assert result["labels"].tolist() == [2]
    # centre ((6 + 0.5) * 4, (5 + 0.5) * 4) = (26, 22); size 0.5^2 * 64 = 16
    assert np.allclose(result["boxes"].numpy(), [[18, 14, 34, 30]], atol=1e-4)
    assert result["scores"].item() > 0.99


def test_localization_target_and_loss_of_the_lecture():
    # lecture 002: y = [p_c, b_x, b_y, b_h, b_w, c_1, c_2, c_3]; a car (class 2) and no object
    y = localization_target([[32.0, 48.0, 96.0, 80.0], [0, 0, 0, 0]], [2, 0], (128, 128), 3)
    assert y.numpy()[0].tolist() == pytest.approx([1, 0.5, 0.5, 0.25, 0.5, 0, 1, 0])
    assert y.numpy()[1].tolist() == [0] * 8
    out = ember.tensor([[0.9, 0.4, 0.5, 0.25, 0.5, 0.1, 0.7, 0.0],
                        [0.2, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0]])
    # all eight squared errors for the object, only (y_hat_1 - 0)^2 for the background
    expected = ((0.1 ** 2 + 0.1 ** 2 + 0.1 ** 2 + 0.3 ** 2) + 0.2 ** 2) / 2
    assert localization_loss(out, y).item() == pytest.approx(expected)
    rng = np.random.default_rng(0)
    assert gradcheck64(lambda o: localization_loss(o, y.double()), [rng.normal(size=(2, 8))])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\]"):
        localization_target([[0, 0, 1, 1]], [4], (8, 8), 3)


def test_localization_net_learns_one_box_and_landmarks():
    ember.manual_seed(0)
    net = LocalizationNet(SmallBackbone(1, (8, 16), 16), num_classes=2,
                          num_landmarks=1)
    images = ember.zeros(4, 1, 16, 16)
    images[0, 0, 2:8, 3:9] = 1
    images[1, 0, 8:14, 6:12] = 1
    boxes = [[3, 2, 9, 8], [6, 8, 12, 14], [0, 0, 0, 0], [0, 0, 0, 0]]
    target = localization_target(boxes, [1, 2, 0, 0], (16, 16), 2,
                                 landmarks=[[[3, 2]], [[6, 8]], [[0, 0]], [[0, 0]]])
    assert target.shape == (4, 5 + 2 + 2)
    opt = ember.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(150):
        loss = localization_loss(net(images), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.01
    decoded = decode_localization(net(images), (16, 16), 2)
    assert [d["present"] for d in decoded] == [True, True, False, False]
    assert decoded[1]["label"] == 2 and np.allclose(decoded[0]["box"], boxes[0], atol=1.0)
    assert np.allclose(decoded[0]["landmarks"], [[3, 2]], atol=1.0)


def test_small_builders():
    model = fasterrcnn_small(num_classes=5, anchor_sizes=(16,), aspect_ratios=(1.0,),
                             box_detections_per_img=7)
    assert model.roi_heads.detections_per_img == 7
    assert model.rpn.head.cls_logits.out_channels == 1
    assert model.roi_heads.box_predictor.cls_score.out_features == 5
    mask = maskrcnn_small(num_classes=5, mask_layers=(8,))
    assert mask.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 5
    # stride-2 and stride-4 maps: the RPN and the box head on the coarser, the mask head on
    # the finer; the RPN asks for a map the backbone lacks: one line
    features = mask.backbone(ember.rand(1, 1, 64, 64))
    assert list(features) == ["0", "1"] and mask.rpn.featmap_names == ["1"]
    assert mask.roi_heads.box_roi_pool.featmap_names == ["1"]
    assert mask.roi_heads.mask_roi_pool.featmap_names == ["0"]
    mask.eval()
    assert mask([ember.rand(1, 64, 64)])[0]["masks"].shape[1:] == (1, 64, 64)
    mask.rpn.featmap_names = ["2"]
    with pytest.raises(KeyError, match=r"featmap_names \['2'\] asks for maps \['2'\]"):
        mask([ember.rand(1, 64, 64)])
    one_map = maskrcnn_small(returned_stages=(1,))
    assert one_map.roi_heads.mask_roi_pool.featmap_names == ["0"] == one_map.rpn.featmap_names
    assert fasterrcnn_small().rpn.featmap_names is None
    two_levels = SmallBackbone(3, (8, 16, 32), 24, returned_stages=(0, 2))
    features = two_levels(ember.rand(1, 3, 32, 32))
    assert list(features) == ["0", "1"] and features["1"].shape == (1, 24, 4, 4)
    assert list(SmallBackbone(1, (8, 16))(ember.rand(1, 1, 16, 16))) == ["0"]
    with pytest.raises(ValueError, match="returned_stages must index widths"):
        SmallBackbone(1, (8,), 8, returned_stages=(1,))
    with pytest.raises(ValueError, match="the stages after the last returned one would be unused"):
        SmallBackbone(1, (8, 16), 8, returned_stages=(0,))
