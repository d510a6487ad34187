"""Detection workloads: Ember against PyTorch/torchvision, in the same alternating processes as
the other workloads (``benchmarks.run``).

- ``roi_align_256x7x7_c256_fwdbwd``: RoI Align forward + backward of 256 boxes into 7x7 bins
  (sampling ratio 2) on a 2 x 256 x 50 x 50 map (stride 16), against torchvision's pure-torch
  ``_roi_align`` (the kernel torchvision runs when its compiled ops are missing, as here; not
  compiled).
- ``nms_10000``: NMS of 10,000 boxes scattered around 100 objects at IoU 0.5, against
  torchvision's greedy algorithm written in PyTorch (``benchmarks.torch_detection.nms_torch``:
  torchvision's own ``nms`` is a compiled op this machine cannot load).
- ``fasterrcnn_small_b16_train``: one training step (forward with the four losses, backward,
  SGD) of ``fasterrcnn_small`` on 16 mnist-detect canvases, against torchvision's
  ``FasterRCNN`` with the same backbone, heads and settings (its NMS and RoI Align routed to
  ``benchmarks.torch_detection``).

Both sides get the same data; the torch side never imports Ember (the canvases come from
NumPy here).
"""
import numpy as np

SEED = 0


def _boxes_and_scores(n=10000, objects=100):
    rng = np.random.default_rng(SEED)
    wh = rng.uniform(16, 160, (objects, 2))
    xy = rng.uniform(0, 800 - wh)
    centres = np.concatenate([xy, xy + wh], 1)
    boxes = centres[rng.integers(0, objects, n)] + rng.normal(0, 6, (n, 4))
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    return boxes.astype(np.float32), rng.random(n).astype(np.float32)


def _rois(k=256, images=2, size=800):
    rng = np.random.default_rng(SEED + 1)
    wh = rng.uniform(32, 400, (k, 2))
    xy = rng.uniform(0, size - 1 - wh)
    return np.concatenate([rng.integers(0, images, (k, 1)), xy, xy + wh], 1).astype(np.float32)


def _roi_align(lib, quick):
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((2, 256, 50, 50), dtype=np.float32)
    rois = _rois()
    grad = rng.standard_normal((256, 256, 7, 7), dtype=np.float32)
    if lib.__name__ == "ember":
        from ember.vision.ops import roi_align
        xt = lib.from_numpy(x).requires_grad_(True)
        r, g = lib.from_numpy(rois), lib.from_numpy(grad)

        def step():
            xt.grad = None
            roi_align(xt, r, 7, 1 / 16, 2).backward(g)
        return step
    from benchmarks.torch_detection import torchvision
    torchvision()
    from torchvision.ops.roi_align import _roi_align as compiled_on_first_use
    reference = compiled_on_first_use.__wrapped__
    xt = lib.from_numpy(x).requires_grad_(True)
    r, g = lib.from_numpy(rois), lib.from_numpy(grad)

    def step():
        xt.grad = None
        reference(xt, r, 1 / 16, 7, 7, 2, False).backward(g)
    return step


def _nms(lib, quick):
    boxes, scores = _boxes_and_scores()
    b, s = lib.from_numpy(boxes), lib.from_numpy(scores)
    if lib.__name__ == "ember":
        from ember.vision.ops import nms
        return lambda: nms(b, s, 0.5)
    from benchmarks.torch_detection import nms_torch
    return lambda: nms_torch(b, s, 0.5)


def _canvases():
    """16 mnist-detect-like canvases as NumPy arrays: digits are 28x28 blobs of ink drawn from
    a fixed generator (the torch side must not import Ember's dataset)."""
    rng = np.random.default_rng(SEED)
    images, targets = [], []
    for _ in range(16):
        canvas = np.zeros((64, 64), np.float32)
        count = int(rng.integers(1, 5))
        boxes, labels = [], []
        for _ in range(count):
            side = int(rng.integers(14, 30))
            y, x = (int(v) for v in rng.integers(0, 64 - side, 2))
            canvas[y:y + side, x + side // 4:x + side - side // 4] = rng.random()
            boxes.append([x + side // 4, y, x + side - side // 4, y + side])
            labels.append(int(rng.integers(1, 11)))
        images.append(canvas[None])
        targets.append((np.array(boxes, np.float32), np.array(labels, np.int64)))
    return images, targets


def _fasterrcnn_step(lib, quick):
    images, targets = _canvases()
    lib.manual_seed(SEED)
    if lib.__name__ == "ember":
        from ember.vision.models.detection.small import fasterrcnn_small
        model = fasterrcnn_small()
    else:
        from benchmarks.torch_detection import patch_torchvision, small_rcnn
        patch_torchvision()
        model = small_rcnn(lib)
    xs = [lib.from_numpy(i) for i in images]
    ys = [{"boxes": lib.from_numpy(b), "labels": lib.from_numpy(l)} for b, l in targets]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = lib.optim.SGD(params, lr=0.01, momentum=0.9)
    model.train()

    def step():
        opt.zero_grad()
        sum(model(xs, ys).values()).backward()
        opt.step()
    return step


WORKLOADS = {"roi_align_256x7x7_c256_fwdbwd": _roi_align, "nms_10000": _nms,
             "fasterrcnn_small_b16_train": _fasterrcnn_step}
REPEATS = {"roi_align_256x7x7_c256_fwdbwd": ((1, 3), (1, 1)),
           "fasterrcnn_small_b16_train": ((2, 8), (1, 2)), "nms_10000": ((2, 10), (1, 2))}
