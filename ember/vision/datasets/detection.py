"""Detection datasets: ``MNISTDetection`` (scenes of bundled MNIST digits), and readers of the
two standard annotation formats, COCO JSON (``CocoDetection``) and Pascal VOC XML
(``VOCDetection``).

Every item is ``(image, target)`` as torchvision's detectors take them: ``image`` a float32
tensor ``(C, H, W)`` in [0, 1] and ``target`` a dict of tensors ``{"boxes": (K, 4) float32
xyxy pixels, "labels": (K,) int64, "image_id": int, ...}`` with ``"masks"`` ``(K, H, W)``
uint8 where the format has them (``iscrowd``, ``area`` for COCO, ``difficult`` for VOC).
``transforms(image, target)`` (e.g. ``ember.vision.transforms.detection``) is applied last.
Nothing is downloaded: the readers take files the user has.
"""
import json
import os
import xml.etree.ElementTree as ElementTree

import numpy as np

import ember
from ember.vision.datasets.canvas import DigitCanvases
from ember.vision.datasets.vision import DatasetFormatError, DatasetNotFoundError, VisionDataset

__all__ = ["MNISTDetection", "CocoDetection", "VOCDetection", "VOC_CLASSES", "parse_voc_xml",
           "coco_segmentation_to_mask", "decode_coco_rle"]

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
               "sheep", "sofa", "train", "tvmonitor")


def _load_image(path, what):
    """An image file as float32 ``(C, H, W)`` in [0, 1] (RGB, or one channel for grey)."""
    from PIL import Image, UnidentifiedImageError
    if not os.path.isfile(path):
        raise DatasetNotFoundError(f"{what}: image file {path} does not exist")
    try:
        with Image.open(path) as img:
            img = img.convert("L" if img.mode in ("1", "L", "I;16", "I") else "RGB")
            pixels = np.asarray(img, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as e:
        raise DatasetFormatError(f"{what}: cannot read image {path}: {e}") from None
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    return ember.from_numpy(np.ascontiguousarray(pixels))


class MNISTDetection(VisionDataset):
    """``mnist-detect``: 64x64 canvases with 1 to 6 real MNIST digits (``DigitCanvases``) at
    random positions and scales, with their exact boxes, classes and instance masks; the
    splits draw their digits from disjoint pools of the 5,000 bundled images.

    Labels are ``1 + digit`` (1..10; 0 is the detectors' background), ``classes`` their names.
    Args: ``split`` (train, val, test), ``length`` (default 2,000 / 200 / 500 scenes),
    ``size``, ``digits`` (min and max digits asked for; a digit that cannot be placed without
    covering another by more than 30% of the smaller box is left out), ``scale`` (digit size
    relative to 28 pixels), ``seed``, ``transforms``.
    """

    classes = ["__background__"] + [str(d) for d in range(10)]
    DEFAULT_LENGTHS = {"train": 2000, "val": 200, "test": 500}

    def __init__(self, split="train", length=None, size=64, digits=(1, 6), scale=(0.6, 1.3),
                 seed=0, transforms=None):
        super().__init__()
        length = self.DEFAULT_LENGTHS.get(split, 0) if length is None else length
        self.canvases = DigitCanvases(split, length, size=size, digits=digits, scale=scale,
                                      seed=seed)
        self.split, self.transforms = split, transforms

    def __len__(self):
        return len(self.canvases)

    def __getitem__(self, index):
        scene = self.canvases[index]
        image = ember.from_numpy(scene.image[None].astype(np.float32) / 255.0)
        boxes = scene.boxes.astype(np.float32)
        target = {"boxes": ember.from_numpy(boxes),
                  "labels": ember.from_numpy(scene.labels + 1),
                  "masks": ember.from_numpy(scene.masks.astype(np.uint8)),
                  "image_id": int(index),
                  "area": ember.from_numpy(scene.masks.sum((1, 2)).astype(np.float32)),
                  "iscrowd": ember.zeros(len(boxes), dtype=ember.int64)}
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target

    def extra_repr(self):
        c = self.canvases
        return (f"Split: {self.split}\nCanvas: {c.height}x{c.width}, digits {c.digits}, "
                f"scale {c.scale}, seed {c.seed}")


# ------------------------------------------------------------------------------- COCO
def decode_coco_rle(rle, height, width):
    """A COCO run-length encoding (``{"counts": [...] or "compressed string", "size": [h,
    w]}``) as a ``(h, w)`` uint8 mask. Counts alternate background/foreground runs over the
    pixels in column-major order; the compressed string packs each count in 5-bit groups
    (LEB128-like, with the sign bit in the last group) and stores differences to the count
    two runs back, as pycocotools' ``rleFrString``."""
    size = rle.get("size", [height, width])
    counts = rle["counts"]
    if isinstance(counts, (bytes, str)):
        counts = _rle_from_string(counts.encode() if isinstance(counts, str) else counts)
    counts = np.asarray(counts, np.int64)
    h, w = int(size[0]), int(size[1])
    if counts.sum() != h * w:
        raise DatasetFormatError(f"COCO RLE: the counts add up to {counts.sum()} pixels, the "
                                 f"mask has {h}x{w} = {h * w}")
    values = np.zeros(len(counts), np.uint8)
    values[1::2] = 1
    flat = np.repeat(values, counts)
    return flat.reshape(w, h).T.copy()


def _rle_from_string(data):
    counts, p = [], 0
    while p < len(data):
        x, k, more = 0, 0, True
        while more:
            c = data[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _polygon_mask(xy, height, width):
    """One COCO polygon ``[x1, y1, x2, y2, ...]`` rasterized as the COCO tools do, so that
    masks and areas agree with the dataset's own: the vertices are taken on a 5x finer grid
    (rounded), each edge is traced one fine step at a time along its longer axis, and every
    step that changes the fine column and lands on a pixel centre records where the boundary
    crosses that pixel column (the first pixel row below it). Walking the pixels column by
    column, each crossing toggles inside/outside, so a pixel is inside when an odd number of
    crossings precede it (in column-major order)."""
    scale = 5.0
    points = np.asarray(xy, np.float64).reshape(-1, 2)
    fine = np.trunc(scale * points + 0.5).astype(np.int64)        # C's (int): toward 0
    fine = np.concatenate([fine, fine[:1]])
    us, vs = [], []
    for (xs, ys), (xe, ye) in zip(fine[:-1], fine[1:]):     # one edge at a time
        dx, dy = abs(xe - xs), abs(ye - ys)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe, ys, ye = xe, xs, ye, ys
        if dx >= dy:
            t = np.arange(dx + 1)
            t = dx - t if flip else t
            slope = (ye - ys) / dx if dx else 0.0
            us.append(t + xs)
            vs.append(np.trunc(ys + slope * t + 0.5).astype(np.int64))
        else:
            t = np.arange(dy + 1)
            t = dy - t if flip else t
            slope = (xe - xs) / dy
            vs.append(t + ys)
            us.append(np.trunc(xs + slope * t + 0.5).astype(np.int64))
    u, v = np.concatenate(us), np.concatenate(vs)
    moved = np.flatnonzero(u[1:] != u[:-1]) + 1
    col = np.where(u[moved] < u[moved - 1], u[moved], u[moved] - 1)
    col = (col + 0.5) / scale - 0.5
    on_pixel = (np.floor(col) == col) & (col >= 0) & (col <= width - 1)
    row = (np.minimum(v[moved], v[moved - 1]) + 0.5) / scale - 0.5
    row = np.ceil(np.clip(row, 0, height))
    position = (col[on_pixel] * height + row[on_pixel]).astype(np.int64)
    crossings = np.bincount(position, minlength=height * width + 1)[:height * width]
    inside = (np.cumsum(crossings) % 2).astype(np.uint8)
    return inside.reshape(width, height).T.copy()


def coco_segmentation_to_mask(segmentation, height, width):
    """A COCO ``segmentation`` as a ``(height, width)`` uint8 mask: an RLE dict (``counts``
    as a list or the compressed string), or a list of polygons ``[x1, y1, x2, y2, ...]``
    (their union), rasterized as the COCO tools rasterize them."""
    if isinstance(segmentation, dict):
        return decode_coco_rle(segmentation, height, width)
    mask = np.zeros((height, width), np.uint8)
    for polygon in segmentation:
        if len(polygon) >= 6:
            mask |= _polygon_mask(polygon, height, width)
    return mask


class CocoDetection(VisionDataset):
    """Images and COCO JSON annotations: ``CocoDetection(root, annFile)``.

    ``root`` holds the images (``file_name`` of each image entry), ``annFile`` the JSON with
    ``images``, ``annotations`` (``bbox`` as ``[x, y, w, h]``, ``category_id``, optional
    ``segmentation`` polygons or RLE, ``iscrowd``, ``area``) and ``categories``. Items are
    ``(image, target)`` as the module docstring says, boxes converted to xyxy, labels the
    COCO ``category_id`` (torchvision's convention; ``categories`` maps them to names),
    ``masks`` decoded when every annotation of the image has a segmentation.

    Refused at construction, in one line: a missing file, annotations of an image that is not
    listed, a category id not among ``categories``, a box with negative width or height.
    """

    def __init__(self, root, annFile, transform=None, target_transform=None, transforms=None):
        super().__init__(root, transform, target_transform)
        self.transforms = transforms
        if not os.path.isfile(annFile):
            raise DatasetNotFoundError(f"CocoDetection: annotation file {annFile} does not exist")
        try:
            with open(annFile, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise DatasetFormatError(f"CocoDetection: cannot read {annFile} as JSON: {e}") from None
        for key in ("images", "annotations", "categories"):
            if key not in data:
                raise DatasetFormatError(f"CocoDetection: {annFile} has no {key!r} list")
        self.images = {img["id"]: img for img in data["images"]}
        self.categories = {c["id"]: c.get("name", str(c["id"])) for c in data["categories"]}
        self.annotations = {i: [] for i in self.images}
        for ann in data["annotations"]:
            if ann["image_id"] not in self.images:
                raise DatasetFormatError(f"CocoDetection: annotation {ann.get('id')} refers to "
                                         f"image {ann['image_id']}, which {annFile} does not "
                                         f"list")
            if ann["category_id"] not in self.categories:
                raise DatasetFormatError(
                    f"CocoDetection: annotation {ann.get('id')} has category_id "
                    f"{ann['category_id']}, not among the categories "
                    f"{sorted(self.categories)}")
            x, y, w, h = ann["bbox"]
            if w < 0 or h < 0:
                raise DatasetFormatError(f"CocoDetection: annotation {ann.get('id')} has a box "
                                         f"with negative size {ann['bbox']}")
            self.annotations[ann["image_id"]].append(ann)
        self.ids = sorted(self.images)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, index):
        image_id = self.ids[index]
        info = self.images[image_id]
        image = _load_image(os.path.join(self.root, info["file_name"]), "CocoDetection")
        h, w = image.shape[-2:]
        anns = self.annotations[image_id]
        boxes = np.array([a["bbox"] for a in anns], np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        target = {"boxes": ember.from_numpy(boxes),
                  "labels": ember.from_numpy(np.array([a["category_id"] for a in anns],
                                                      np.int64)),
                  "image_id": image_id,
                  "area": ember.from_numpy(np.array([a.get("area", 0.0) for a in anns],
                                                    np.float32)),
                  "iscrowd": ember.from_numpy(np.array([a.get("iscrowd", 0) for a in anns],
                                                       np.int64))}
        if anns and all("segmentation" in a for a in anns):
            masks = np.stack([coco_segmentation_to_mask(a["segmentation"], h, w) for a in anns])
            target["masks"] = ember.from_numpy(masks)
        image, target = self._apply_transforms(image, target)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target

    def extra_repr(self):
        return f"Categories: {len(self.categories)}"


# -------------------------------------------------------------------------------- VOC
def parse_voc_xml(path):
    """A Pascal VOC annotation file as ``{"filename", "size": (height, width), "objects":
    [{"name", "bbox": (xmin, ymin, xmax, ymax), "difficult": bool}, ...]}``."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as e:
        raise DatasetFormatError(f"VOCDetection: cannot parse {path}: {e}") from None

    def number(node, tag):
        child = node.find(tag)
        if child is None or child.text is None:
            raise DatasetFormatError(f"VOCDetection: {path} lacks <{tag}>")
        return float(child.text)
    size = root.find("size")
    objects = []
    for obj in root.findall("object"):
        box = obj.find("bndbox")
        if box is None or obj.find("name") is None:
            raise DatasetFormatError(f"VOCDetection: an <object> of {path} lacks <name> or "
                                     f"<bndbox>")
        bbox = tuple(number(box, t) for t in ("xmin", "ymin", "xmax", "ymax"))
        if bbox[2] < bbox[0] or bbox[3] < bbox[1]:
            raise DatasetFormatError(f"VOCDetection: {path} has a box with xmax < xmin or "
                                     f"ymax < ymin: {bbox}")
        difficult = obj.find("difficult")
        objects.append({"name": obj.find("name").text.strip(), "bbox": bbox,
                        "difficult": difficult is not None and difficult.text.strip() == "1"})
    filename = root.find("filename")
    return {"filename": filename.text.strip() if filename is not None else None,
            "size": (int(number(size, "height")), int(number(size, "width")))
            if size is not None else None, "objects": objects}


class VOCDetection(VisionDataset):
    """A Pascal VOC folder: ``root/ImageSets/Main/<image_set>.txt`` lists the image ids,
    ``root/Annotations/<id>.xml`` their objects and ``root/JPEGImages/<id>.jpg`` the images
    (the layout of ``VOCdevkit/VOC2007``). ``classes`` names the categories (default the 20 VOC
    classes); labels are ``1 + index`` (0 is the background), ``difficult`` flags the objects
    VOC's AP ignores. Boxes are the XML's pixel coordinates as they are (VOC's are 1-based
    inclusive; Ember's evaluation treats coordinates as continuous)."""

    def __init__(self, root, image_set="train", classes=VOC_CLASSES, transform=None,
                 target_transform=None, transforms=None):
        super().__init__(root, transform, target_transform)
        self.transforms = transforms
        self.classes = list(classes)
        listing = os.path.join(self.root, "ImageSets", "Main", f"{image_set}.txt")
        if not os.path.isfile(listing):
            raise DatasetNotFoundError(f"VOCDetection: image set file {listing} does not exist")
        with open(listing, encoding="utf-8") as f:
            self.ids = [line.split()[0] for line in f if line.strip()]

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, index):
        name = self.ids[index]
        annotation = parse_voc_xml(os.path.join(self.root, "Annotations", f"{name}.xml"))
        unknown = [o["name"] for o in annotation["objects"] if o["name"] not in self.classes]
        if unknown:
            raise DatasetFormatError(f"VOCDetection: {name}.xml has class {unknown[0]!r}, not "
                                     f"among the {len(self.classes)} classes")
        image = _load_image(os.path.join(self.root, "JPEGImages",
                                         annotation["filename"] or f"{name}.jpg"), "VOCDetection")
        objects = annotation["objects"]
        target = {"boxes": ember.from_numpy(np.array([o["bbox"] for o in objects],
                                                     np.float32).reshape(-1, 4)),
                  "labels": ember.from_numpy(np.array([1 + self.classes.index(o["name"])
                                                       for o in objects], np.int64)),
                  "difficult": ember.from_numpy(np.array([o["difficult"] for o in objects],
                                                         bool)),
                  "image_id": index}
        image, target = self._apply_transforms(image, target)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target
