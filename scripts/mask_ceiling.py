"""How well Mask R-CNN's mask representation can fit the mnist-detect digits at best: every true
mask projected onto its true box as the training targets are (``project_masks_on_boxes``,
``M x M``), pasted back as the predictions are (``paste_masks_in_image``) and cut at 0.5, with
perfect boxes and scores. Prints the mean mask IoU and the COCO mask mAP for the unaligned
(torchvision) and aligned projection, each with torchvision's rounded paste and the aligned one.

    python scripts/mask_ceiling.py                 # test split, 28x28 masks
    python scripts/mask_ceiling.py --split val --size 14
"""
import argparse

import numpy as np


def main(argv=None):
    import ember
    from ember.vision.datasets import MNISTDetection
    from ember.vision.metrics import MeanAveragePrecision
    from ember.vision.models.detection.roi_heads import (paste_masks_in_image,
                                                         project_masks_on_boxes)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--size", type=int, default=28, help="the mask grid M (default 28)")
    args = parser.parse_args(argv)
    dataset = MNISTDetection(args.split)
    rows = []
    for aligned_targets in (False, True):
        for aligned_paste in (False, True):
            ious, coco = [], MeanAveragePrecision(iou_type="segm")
            for index in range(len(dataset)):
                image, target = dataset[index]
                boxes, truth = target["boxes"], target["masks"]
                small = project_masks_on_boxes(truth, boxes, ember.arange(len(boxes)),
                                               args.size, aligned_targets)
                pasted = paste_masks_in_image(small[:, None], boxes, tuple(image.shape[-2:]),
                                              aligned=aligned_paste).numpy()[:, 0] > 0.5
                true = truth.numpy().astype(bool)
                ious.extend((pasted & true).sum((1, 2)) / (pasted | true).sum((1, 2)))
                coco.update([{"boxes": boxes, "labels": target["labels"],
                              "scores": ember.ones(len(boxes)),
                              "masks": ember.from_numpy(pasted)}],
                            [{"boxes": boxes, "labels": target["labels"], "masks": truth}])
            summary = coco.compute()
            rows.append((aligned_targets, aligned_paste, float(np.mean(ious)),
                         float(np.mean(np.asarray(ious) < 0.5)), summary["map_50"],
                         summary["map_75"], summary["map"]))
    print(f"{args.split} split, {len(dataset)} canvases, {len(ious)} digits, "
          f"{args.size}x{args.size} masks")
    print(f"{'targets':<10} {'paste':<12} {'mean IoU':>8} {'IoU<.5':>7} {'mAP@.5':>7} "
          f"{'mAP@.75':>7} {'mAP':>6}")
    for targets, paste, iou, low, map50, map75, mean_ap in rows:
        print(f"{'aligned' if targets else 'unaligned':<10} "
              f"{'aligned' if paste else 'rounded':<12} {iou:>8.3f} {low:>7.3f} {map50:>7.3f} "
              f"{map75:>7.3f} {mean_ap:>6.3f}")
    return rows


if __name__ == "__main__":
    main()
