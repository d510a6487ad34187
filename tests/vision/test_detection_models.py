"""Faster and Mask R-CNN (inventory C8, D19-D22, E9) against torchvision: state_dict keys,
shapes and parameter counts of the ResNet-50 FPN builders; losses, gradients and detections
of small models with the same weights in float64 (torchvision's NMS and RoI Align are compiled ops this machine cannot load,
so its modules call the reference kernels of tests/vision/oracles.py); the parts (anchors,
box coding, matching, mask pasting, the transform); targets a detector must refuse."""
from collections import OrderedDict

import numpy as np
import pytest

import ember
from ember.vision.models import detection as ed
from ember.vision.models.detection import rpn as ember_rpn
from tests.harness import assert_close
from tests.vision.oracles import nms_reference, torch_roi_align, torchvision


@pytest.fixture
def tv(monkeypatch):
    """torchvision with its compiled NMS and RoI Align replaced by the reference kernels."""
    torch, tvm = torchvision()
    import torchvision.models.detection.roi_heads as tv_roi_heads
    import torchvision.ops.boxes as tv_boxes
    import torchvision.ops.poolers as tv_poolers
    from torchvision.ops._utils import convert_boxes_to_roi_format
    align = torch_roi_align()

    def nms(boxes, scores, threshold):
        return torch.from_numpy(nms_reference(boxes.detach().numpy(), scores.detach().numpy(),
                                              threshold))

    def roi_align(x, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
        if isinstance(rois, (list, tuple)):
            rois = convert_boxes_to_roi_format(rois)
        size = (output_size, output_size) if isinstance(output_size, int) else output_size
        return align(x, rois, spatial_scale, size[0], size[1], sampling_ratio, aligned)
    monkeypatch.setattr(tv_boxes, "nms", nms)
    monkeypatch.setattr(tv_boxes, "batched_nms",
                        lambda b, s, i, t: tv_boxes._batched_nms_vanilla(b, s, i, t))
    monkeypatch.setattr(tv_poolers, "roi_align", roi_align)
    monkeypatch.setattr(tv_roi_heads, "roi_align", roi_align)
    return torch, tvm


def _torch_parts():
    import torchvision.models.detection as tdet
    from torchvision.models.detection import (anchor_utils, backbone_utils, faster_rcnn,
                                              mask_rcnn)
    from torchvision.ops import MultiScaleRoIAlign
    return dict(FasterRCNN=tdet.FasterRCNN, MaskRCNN=tdet.MaskRCNN,
                AnchorGenerator=anchor_utils.AnchorGenerator,
                BackboneWithFPN=backbone_utils.BackboneWithFPN,
                FastRCNNPredictor=faster_rcnn.FastRCNNPredictor,
                MaskRCNNHeads=mask_rcnn.MaskRCNNHeads,
                MaskRCNNPredictor=mask_rcnn.MaskRCNNPredictor,
                MultiScaleRoIAlign=MultiScaleRoIAlign)


def _ember_parts():
    return dict(FasterRCNN=ed.FasterRCNN, MaskRCNN=ed.MaskRCNN,
                AnchorGenerator=ed.AnchorGenerator, BackboneWithFPN=ed.BackboneWithFPN,
                FastRCNNPredictor=ed.FastRCNNPredictor, MaskRCNNHeads=ed.MaskRCNNHeads,
                MaskRCNNPredictor=ed.MaskRCNNPredictor,
                MultiScaleRoIAlign=ember.vision.ops.MultiScaleRoIAlign)


def _tiny(lib, parts, mask, fpn):
    """A small detector: a two-conv backbone (or a two-level FPN over it); every anchor and
    proposal is sampled (huge batch sizes), so the losses do not depend on random draws."""
    nn = lib.nn
    if fpn:
        body = nn.Sequential(OrderedDict([("layer1", nn.Conv2d(3, 6, 3, 2, 1)),
                                          ("layer2", nn.Conv2d(6, 8, 3, 2, 1))]))
        backbone = parts["BackboneWithFPN"](body, {"layer1": "0", "layer2": "1"}, [6, 8], 8)
        anchors = parts["AnchorGenerator"](((8,), (16,), (24,)), ((0.5, 1.0),) * 3)
        names = ["0", "1"]
    else:
        backbone = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1))
        backbone.out_channels = 8
        anchors = parts["AnchorGenerator"](((8, 16),), ((0.5, 1.0),))
        names = ["0"]
    kwargs = dict(min_size=64, max_size=64, rpn_anchor_generator=anchors,
                  box_roi_pool=parts["MultiScaleRoIAlign"](names, 5, 2),
                  rpn_batch_size_per_image=10 ** 6, box_batch_size_per_image=10 ** 6,
                  rpn_pre_nms_top_n_train=120, rpn_post_nms_top_n_train=60,
                  rpn_pre_nms_top_n_test=60, rpn_post_nms_top_n_test=40, box_score_thresh=0.0)
    if mask:
        return parts["MaskRCNN"](backbone, None, box_predictor=parts["FastRCNNPredictor"](1024, 4),
                                 mask_roi_pool=parts["MultiScaleRoIAlign"](names, 6, 2),
                                 mask_head=parts["MaskRCNNHeads"](8, (8,), 1),
                                 mask_predictor=parts["MaskRCNNPredictor"](8, 8, 4), **kwargs)
    return parts["FasterRCNN"](backbone, 4, **kwargs)


def _data(masks):
    # 64x64 images: no resize and no padding, so no constant regions whose equal scores
    # would make the two libraries' NMS tie-breaks differ
    rng = np.random.default_rng(0)
    images = [rng.random((3, 64, 64)), rng.random((3, 64, 64))]
    targets = [{"boxes": np.array([[2.0, 3, 20, 30], [25, 10, 50, 38]]),
                "labels": np.array([1, 3])},
               {"boxes": np.array([[5.0, 5, 40, 40]]), "labels": np.array([2])}]
    if masks:
        for t in targets:
            t["masks"] = (rng.random((len(t["labels"]), 64, 64)) > 0.5).astype(np.uint8)
    return images, targets


def _same_as_torchvision(torch, tm, em, images, targets):
    """Load ``tm``'s weights (float64) into ``em``; the losses, every gradient (of the inputs
    and the parameters) and the detections must agree."""
    assert list(em.state_dict()) == list(tm.state_dict())
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    ti = [torch.from_numpy(i).requires_grad_() for i in images]
    ei = [ember.from_numpy(i).requires_grad_() for i in images]
    t_losses = tm(ti, [{k: torch.from_numpy(v) for k, v in t.items()} for t in targets])
    e_losses = em(ei, [{k: ember.from_numpy(v) for k, v in t.items()} for t in targets])
    assert list(e_losses) == list(t_losses)
    for name, value in t_losses.items():
        # torchvision's RPN passes float32 labels to the float64 objectness loss, and torch
        # then evaluates it in float32 (eps 6e-8); every other loss agrees to float64 rounding
        rel = 1e-6 if name == "loss_objectness" else 1e-10
        assert e_losses[name].item() == pytest.approx(float(value.detach()), rel=rel), name
    sum(t_losses.values()).backward()
    sum(e_losses.values()).backward()
    assert_close(ei[0].grad.numpy(), ti[0].grad.numpy(), rtol=1e-6, atol=1e-6)
    for (name, tp), (_, ep) in zip(tm.named_parameters(), em.named_parameters()):
        assert_close(ep.grad.numpy(), tp.grad.numpy(), rtol=1e-6, atol=1e-6, what=name)
    tm.eval()
    em.eval()
    with torch.no_grad():
        t_out = tm([torch.from_numpy(i) for i in images])
    with ember.no_grad():
        e_out = em([ember.from_numpy(i) for i in images])
    for t_det, e_det in zip(t_out, e_out):
        assert list(e_det) == list(t_det) and len(t_det["boxes"]) > 10
        for key in t_det:
            assert_close(e_det[key].numpy(), t_det[key].numpy(), what=key)


@pytest.mark.parametrize("mask, fpn", [(False, False), (True, False), (False, True)])
def test_small_rcnn_matches_torchvision(tv, mask, fpn):
    torch, _ = tv
    torch.manual_seed(0)
    tm = _tiny(torch, _torch_parts(), mask, fpn).double()
    em = _tiny(ember, _ember_parts(), mask, fpn).double()
    _same_as_torchvision(torch, tm, em, *_data(mask))


def test_maskrcnn_small_matches_torchvision_built_by_the_comparison_script(tv, monkeypatch):
    # maskrcnn_small (RPN and box head on the stride-4 map, mask head on the stride-2 map,
    # aligned mask targets and paste) against the torchvision model that
    # scripts/detection_torch.py trains; every anchor and proposal sampled, in float64
    torch, _ = tv
    import torchvision.models.detection.roi_heads as tv_roi_heads
    import torchvision.models.detection.transform as tv_transform
    from benchmarks.torch_detection import paste_masks_aligned, small_rcnn
    align = torch_roi_align()

    def project_masks_on_boxes(gt_masks, boxes, matched_idxs, m):
        rois = torch.cat([matched_idxs.to(boxes)[:, None], boxes], dim=1)
        return align(gt_masks[:, None].to(rois), rois, 1.0, m, m, -1, True)[:, 0]
    monkeypatch.setattr(tv_roi_heads, "project_masks_on_boxes", project_masks_on_boxes)
    monkeypatch.setattr(tv_transform, "paste_masks_in_image", paste_masks_aligned)
    torch.manual_seed(0)
    tm = small_rcnn(torch, masks=True, mask_layers=(8,), returned_stages=(0, 1)).double()
    em = ed.maskrcnn_small(mask_layers=(8,)).double()
    for model in (tm, em):                       # few proposals: the RoI Align oracle is slow
        model.rpn._pre_nms_top_n = {"training": 60, "testing": 60}
        model.rpn._post_nms_top_n = {"training": 16, "testing": 12}
        model.rpn.fg_bg_sampler.batch_size_per_image = 10 ** 6
        model.roi_heads.fg_bg_sampler.batch_size_per_image = 10 ** 6
        model.roi_heads.score_thresh = 0.0
    from ember.vision.datasets import MNISTDetection
    scenes = [MNISTDetection("val", length=2)[i] for i in range(2)]
    images = [image.numpy().astype(np.float64) for image, _ in scenes]
    targets = [{"boxes": t["boxes"].numpy().astype(np.float64), "labels": t["labels"].numpy(),
                "masks": t["masks"].numpy()} for _, t in scenes]
    _same_as_torchvision(torch, tm, em, images, targets)


def test_resnet50_fpn_builders_match_torchvision():
    torch, tvm = torchvision()
    for name, params in (("fasterrcnn_resnet50_fpn", 41_808_406),
                         ("maskrcnn_resnet50_fpn", 44_454_513)):
        em = getattr(ed, name)()
        tm = getattr(tvm.models.detection, name)(weights_backbone=None)
        e_state, t_state = em.state_dict(), tm.state_dict()
        assert list(e_state) == list(t_state)
        assert all(tuple(e_state[k].shape) == tuple(v.shape) for k, v in t_state.items())
        assert sum(p.numel() for p in em.parameters()) == params == sum(
            p.numel() for p in tm.parameters())
    with pytest.raises(ValueError, match="never downloads"):
        ed.fasterrcnn_resnet50_fpn(weights="DEFAULT")


def test_anchors_box_coder_and_matcher_match_torchvision():
    torch, tvm = torchvision()
    from torchvision.models.detection import _utils as tv_utils
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList
    sizes, ratios = ((16, 32), (40,)), ((0.5, 1.0, 2.0), (1.0, 3.0))
    ta = AnchorGenerator(sizes, ratios)(ImageList(torch.zeros(2, 1, 64, 80), [(64, 80)] * 2),
                                        [torch.zeros(2, 1, 16, 20), torch.zeros(2, 1, 8, 10)])
    ea = ed.AnchorGenerator(sizes, ratios)(ed.ImageList(ember.zeros(2, 1, 64, 80), [(64, 80)] * 2),
                                           [ember.zeros(2, 1, 16, 20), ember.zeros(2, 1, 8, 10)])
    assert len(ea) == 2 and all((e.numpy() == t.numpy()).all() for e, t in zip(ea, ta))
    rng = np.random.default_rng(1)
    boxes = rng.uniform(0, 50, (30, 4))
    boxes[:, 2:] += boxes[:, :2] + 1
    ref = rng.uniform(0, 50, (30, 4))
    ref[:, 2:] += ref[:, :2] + 1
    for weights in ((1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)):
        tc, ec = tv_utils.BoxCoder(weights), ed.BoxCoder(weights)
        codes = ec.encode_single(ember.from_numpy(boxes), ember.from_numpy(ref))
        assert_close(codes.numpy(), tc.encode_single(torch.from_numpy(boxes),
                                                     torch.from_numpy(ref)).numpy())
        deltas = rng.normal(0, 1, (30, 8))
        deltas[0, 2] = 50.0                                   # clamped at log(1000/16)
        assert_close(ec.decode(ember.from_numpy(deltas), [ember.from_numpy(ref)]).numpy(),
                     tc.decode(torch.from_numpy(deltas), [torch.from_numpy(ref)]).numpy())
    quality = rng.random((4, 50))
    quality[:, :3] = 0.75                                     # ties for the low-quality rule
    for low_quality in (False, True):
        t_match = tv_utils.Matcher(0.7, 0.3, low_quality)(torch.from_numpy(quality))
        e_match = ed.Matcher(0.7, 0.3, low_quality)(ember.from_numpy(quality))
        assert (e_match.numpy() == t_match.numpy()).all()
    with pytest.raises(ValueError, match="no ground-truth boxes available"):
        ed.Matcher(0.7, 0.3)(ember.zeros(0, 5))


def test_paste_masks_matches_torchvision():
    torch, tvm = torchvision()
    from torchvision.models.detection.roi_heads import paste_masks_in_image
    rng = np.random.default_rng(2)
    masks = rng.random((7, 1, 14, 14)).astype(np.float32)
    boxes = rng.uniform(-10, 38, (7, 4)).astype(np.float32)   # torchvision fails past the image
    boxes[:, 2:] = boxes[:, :2] + rng.uniform(0.2, 40, (7, 2))
    boxes[0] = [30, 30, 29, 31]                               # degenerate: x2 < x1
    got = ed.paste_masks_in_image(ember.from_numpy(masks), ember.from_numpy(boxes), (45, 52))
    expected = paste_masks_in_image(torch.from_numpy(masks), torch.from_numpy(boxes), (45, 52))
    # float32: each pixel mixes four mask values with weights summing to 1
    assert_close(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_aligned_paste_is_detectron2s_grid_sample():
    # Detectron2's paste: each image pixel centre mapped into the box's M x M cells and sampled
    # by grid_sample (align_corners=False, zeros outside the mask), box coordinates unrounded
    torch, _ = torchvision()
    rng = np.random.default_rng(4)
    masks = rng.random((6, 1, 14, 14))
    boxes = rng.uniform(-10, 38, (6, 4))
    boxes[:, 2:] = boxes[:, :2] + rng.uniform(0.5, 40, (6, 2))
    h, w = 45, 52
    x1, y1, x2, y2 = (torch.from_numpy(boxes[:, i])[:, None] for i in range(4))
    gx = (torch.arange(w, dtype=torch.float64) + 0.5 - x1) / (x2 - x1) * 2 - 1
    gy = (torch.arange(h, dtype=torch.float64) + 0.5 - y1) / (y2 - y1) * 2 - 1
    grid = torch.stack([gx[:, None, :].expand(-1, h, w), gy[:, :, None].expand(-1, h, w)], 3)
    expected = torch.nn.functional.grid_sample(torch.from_numpy(masks), grid,
                                               align_corners=False)
    got = ed.paste_masks_in_image(ember.from_numpy(masks), ember.from_numpy(boxes), (h, w),
                                  aligned=True)
    assert_close(got.numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)
    # a degenerate box pastes nothing; no masks give an empty stack
    flat = ed.paste_masks_in_image(ember.ones(1, 1, 14, 14), ember.tensor([[5.0, 5, 5, 9]]),
                                   (16, 16), aligned=True)
    assert flat.shape == (1, 1, 16, 16) and float(flat.abs().sum()) == 0
    assert ed.paste_masks_in_image(ember.zeros(0, 1, 14, 14), ember.zeros(0, 4), (8, 8),
                                   aligned=True).shape == (0, 1, 8, 8)


def test_transform_resizes_images_boxes_and_masks_as_torchvision():
    torch, tvm = torchvision()
    from torchvision.models.detection.transform import GeneralizedRCNNTransform
    rng = np.random.default_rng(3)
    images = [rng.random((3, 30, 50)), rng.random((3, 41, 23))]
    targets = [{"boxes": np.array([[1.0, 2, 20, 25]]), "labels": np.array([1]),
                "masks": (rng.random((1, 30, 50)) > 0.5).astype(np.uint8)},
               {"boxes": np.array([[3.0, 4, 10, 40]]), "labels": np.array([2]),
                "masks": (rng.random((1, 41, 23)) > 0.5).astype(np.uint8)}]
    args = (48, 70, [0.4, 0.5, 0.6], [0.2, 0.3, 0.25])
    t_list, t_targets = GeneralizedRCNNTransform(*args).eval()(
        [torch.from_numpy(i) for i in images],
        [{k: torch.from_numpy(v) for k, v in t.items()} for t in targets])
    e_list, e_targets = ed.GeneralizedRCNNTransform(*args).eval()(
        [ember.from_numpy(i) for i in images],
        [{k: ember.from_numpy(v) for k, v in t.items()} for t in targets])
    assert e_list.image_sizes == [tuple(s) for s in t_list.image_sizes]
    assert_close(e_list.tensors.numpy(), t_list.tensors.numpy())
    for e, t in zip(e_targets, t_targets):
        assert_close(e["boxes"].numpy(), t["boxes"].numpy())
        assert (e["masks"].numpy() == t["masks"].numpy()).all()


def _model():
    ember.manual_seed(0)
    backbone = ember.nn.Sequential(ember.nn.Conv2d(1, 4, 3, 4, 1))
    backbone.out_channels = 4
    return ed.FasterRCNN(backbone, 3, min_size=32, max_size=32, image_mean=[0.5], image_std=[0.5],
                         rpn_anchor_generator=ed.AnchorGenerator(((8, 16),), ((1.0,),)),
                         box_roi_pool=ember.vision.ops.MultiScaleRoIAlign(["0"], 3, 2),
                         box_batch_size_per_image=16)


def test_an_image_without_objects_gives_finite_losses():
    model = _model()
    images = [ember.rand(1, 32, 32), ember.rand(1, 32, 32)]
    targets = [{"boxes": ember.zeros(0, 4), "labels": ember.zeros(0, dtype=ember.int64)},
               {"boxes": ember.tensor([[4.0, 4, 20, 24]]), "labels": ember.tensor([2])}]
    losses = model(images, targets)
    assert all(np.isfinite(v.item()) for v in losses.values())
    sum(losses.values()).backward()
    losses = model(images[:1], targets[:1])                   # no object at all in the batch
    assert all(np.isfinite(v.item()) for v in losses.values())
    assert losses["loss_box_reg"].item() == 0 and losses["loss_rpn_box_reg"].item() == 0


def test_bad_targets_are_refused_in_one_line():
    model = _model()
    image = [ember.rand(1, 32, 32)]
    with pytest.raises(ValueError, match=r"invalid box \[20.0, 4.0, 10.0, 24.0\] for target at "
                                         r"index 0"):
        model(image, [{"boxes": ember.tensor([[20.0, 4, 10, 24]]), "labels": ember.tensor([1])}])
    with pytest.raises(ValueError, match=r"expected target boxes of shape \(L, 4\), got \(4,\)"):
        model(image, [{"boxes": ember.tensor([1.0, 2, 3, 4]), "labels": ember.tensor([1])}])
    with pytest.raises(ValueError, match=r"expected target labels of shape \(1,\)"):
        model(image, [{"boxes": ember.tensor([[1.0, 2, 3, 4]]), "labels": ember.tensor([1, 2])}])
    with pytest.raises(ValueError, match="targets are needed in training mode"):
        model(image)
    with pytest.raises(ValueError, match=r"expected images of shape \(C, H, W\)"):
        model.eval()([ember.rand(32, 32)])
    with pytest.raises(ValueError, match="image has 3 channels but image_mean has 1"):
        model.eval()([ember.rand(3, 32, 32)])
    with pytest.raises(ValueError, match="give num_classes"):
        ed.FasterRCNN(model.backbone)


def test_rpn_proposals_are_capped_and_inside_the_image():
    model = _model().eval()
    with ember.no_grad():
        images, _ = model.transform([ember.rand(1, 32, 32)])
        features = OrderedDict([("0", model.backbone(images.tensors))])
        model.rpn._post_nms_top_n["testing"] = 5
        boxes, losses = model.rpn(images, features)
    assert losses == {} and boxes[0].shape[0] <= 5
    b = boxes[0].numpy()
    assert (b >= 0).all() and (b[:, 2] <= 32).all() and (b[:, 3] <= 32).all()
    flat, _ = ember_rpn.concat_box_prediction_layers([ember.zeros(2, 3, 4, 5)],
                                                     [ember.zeros(2, 12, 4, 5)])
    assert flat.shape == (2 * 4 * 5 * 3, 1)


def test_aligned_mask_targets_keep_thin_strokes():
    # a perfect 28x28 mask of each mnist-detect digit, projected as the training targets are
    # and pasted back as the predictions are: torchvision's unaligned projection shifts it by
    # half a pixel, which thin strokes do not survive (RoIHeads.mask_targets_aligned); its
    # paste rounds the box to whole pixels, the aligned paste undoes the projection exactly
    from ember.vision.datasets import MNISTDetection
    from ember.vision.models.detection.roi_heads import project_masks_on_boxes
    ious = {(False, False): [], (True, False): [], (True, True): []}
    for i in range(12):
        _, target = MNISTDetection("val", length=12)[i]
        index = ember.arange(len(target["boxes"]))
        truth = target["masks"].numpy().astype(bool)
        for aligned, paste_aligned in ious:
            small = project_masks_on_boxes(target["masks"], target["boxes"], index, 28, aligned)
            pasted = ed.paste_masks_in_image(small[:, None], target["boxes"], (64, 64),
                                             aligned=paste_aligned)
            pasted = pasted.numpy()[:, 0] > 0.5
            ious[aligned, paste_aligned] += list((pasted & truth).sum((1, 2))
                                                 / (pasted | truth).sum((1, 2)))
    mean = {key: np.mean(value) for key, value in ious.items()}
    assert mean[True, True] > 0.99 > mean[True, False] > 0.9 > 0.7 > mean[False, False]
    model = ed.maskrcnn_small()
    assert model.roi_heads.mask_targets_aligned is True and model.transform.mask_paste_aligned
    from ember.vision.models.detection.small import SmallBackbone
    assert ed.MaskRCNN(SmallBackbone(), num_classes=3).transform.mask_paste_aligned is False
