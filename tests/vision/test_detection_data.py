"""Detection data: mnist-detect items, the COCO JSON reader (boxes, polygons and RLE masks equal
to pycocotools'), the Pascal VOC XML reader, and the one-line errors for bad files."""
import json

import numpy as np
import pytest

import ember
from ember.vision.datasets import (CocoDetection, DatasetFormatError, DatasetNotFoundError,
                                   MNISTDetection, VOCDetection, parse_voc_xml)
from ember.vision.datasets.detection import coco_segmentation_to_mask, decode_coco_rle
from ember.vision.ops import masks_to_boxes

# pycocotools 2.0 calls np.array(copy=False) on its own objects (its warning, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_mnist_detect_items():
    data = MNISTDetection("test", length=5)
    image, target = data[3]
    assert image.shape == (1, 64, 64) and image.dtype == ember.float32
    assert 0.0 <= image.min().item() and image.max().item() <= 1.0
    k = len(target["labels"])
    assert 1 <= k <= 6 and target["boxes"].shape == (k, 4) and target["masks"].shape == (k, 64, 64)
    assert target["labels"].dtype == ember.int64 and 1 <= target["labels"].min().item()
    # the boxes are the tight boxes of the masks (pixel edges: x2 is one past the last column)
    assert (masks_to_boxes(target["masks"]).numpy() + [0, 0, 1, 1] == target["boxes"].numpy()).all()
    assert (target["area"].numpy() == target["masks"].numpy().sum((1, 2))).all()
    again = MNISTDetection("test", length=5)[3][1]
    assert (again["boxes"].numpy() == target["boxes"].numpy()).all()
    assert len(MNISTDetection("train")) == 2000 and MNISTDetection.classes[1:] == list("0123456789")
    flipped = MNISTDetection("test", length=5, transforms=lambda i, t: (i.flip(-1), t))[3][0]
    assert (flipped.numpy() == image.numpy()[..., ::-1]).all()


def _pycocotools():
    return pytest.importorskip("pycocotools.mask")


def test_rle_and_polygons_decode_as_pycocotools():
    mask_utils = _pycocotools()
    rng = np.random.default_rng(0)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(4, 30, 2))
        mask = (rng.random((h, w)) > 0.6).astype(np.uint8)
        rle = mask_utils.encode(np.asfortranarray(mask))
        assert (decode_coco_rle(rle, h, w) == mask).all()                  # compressed string
        counts = np.diff(np.flatnonzero(np.diff(np.concatenate(
            [[-1], mask.T.ravel(), [-1]]))))                                # uncompressed list
        counts = ([0] if mask.T.ravel()[0] else []) + counts.tolist()
        assert (decode_coco_rle({"counts": counts, "size": [h, w]}, h, w) == mask).all()
        polygons = [list((rng.random((int(rng.integers(3, 8)), 2)) * [w + 4, h + 4] - 2).ravel())
                    for _ in range(2)]
        expected = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygons, h, w)))
        assert (coco_segmentation_to_mask(polygons, h, w) == expected).all()
    with pytest.raises(DatasetFormatError, match="the counts add up to 5 pixels, the mask has "
                                                 "2x3 = 6"):
        decode_coco_rle({"counts": [2, 3], "size": [2, 3]}, 2, 3)


def _coco_files(tmp_path, annotations, images=({"id": 1, "file_name": "a.png", "height": 6,
                                                 "width": 8},)):
    from PIL import Image
    Image.fromarray((np.arange(48).reshape(6, 8) * 5).astype(np.uint8)).save(tmp_path / "a.png")
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": list(images), "annotations": annotations,
                                "categories": [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}]}))
    return str(path)


def test_coco_reader(tmp_path):
    mask_utils = _pycocotools()
    square = np.zeros((6, 8), np.uint8)
    square[1:4, 2:6] = 1
    rle = mask_utils.encode(np.asfortranarray(square))
    rle["counts"] = rle["counts"].decode()
    annotations = [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [2, 1, 4, 3], "area": 12,
                    "iscrowd": 0, "segmentation": [[2, 1, 6, 1, 6, 4, 2, 4]]},
                   {"id": 2, "image_id": 1, "category_id": 3, "bbox": [0.5, 0, 2, 5], "area": 9,
                    "iscrowd": 1, "segmentation": rle}]
    data = CocoDetection(str(tmp_path), _coco_files(tmp_path, annotations))
    image, target = data[0]
    assert len(data) == 1 and image.shape == (1, 6, 8)
    assert np.allclose(image.numpy()[0], np.arange(48).reshape(6, 8) * 5 / 255)
    assert target["boxes"].numpy().tolist() == [[2, 1, 6, 4], [0.5, 0, 2.5, 5]]
    assert target["labels"].tolist() == [7, 3] and target["iscrowd"].tolist() == [0, 1]
    polygon = mask_utils.decode(mask_utils.frPyObjects([[2, 1, 6, 1, 6, 4, 2, 4]], 6, 8))[..., 0]
    assert (target["masks"].numpy()[0] == polygon).all()
    assert (target["masks"].numpy()[1] == square).all()
    assert data.categories == {3: "cat", 7: "dog"}


def test_coco_reader_refuses_bad_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="annotation file .*missing.json does not exist"):
        CocoDetection(str(tmp_path), str(tmp_path / "missing.json"))
    ann = {"id": 5, "image_id": 2, "category_id": 3, "bbox": [0, 0, 1, 1]}
    with pytest.raises(DatasetFormatError, match="annotation 5 refers to image 2, which .* does "
                                                 "not list"):
        CocoDetection(str(tmp_path), _coco_files(tmp_path, [ann]))
    ann.update(image_id=1, category_id=4)
    with pytest.raises(DatasetFormatError, match=r"annotation 5 has category_id 4, not among the "
                                                 r"categories \[3, 7\]"):
        CocoDetection(str(tmp_path), _coco_files(tmp_path, [ann]))
    ann.update(category_id=3, bbox=[0, 0, -1, 2])
    with pytest.raises(DatasetFormatError, match="negative size"):
        CocoDetection(str(tmp_path), _coco_files(tmp_path, [ann]))
    missing = [{"id": 1, "file_name": "gone.png", "height": 6, "width": 8}]
    data = CocoDetection(str(tmp_path), _coco_files(tmp_path, [], images=missing))
    with pytest.raises(DatasetNotFoundError, match="image file .*gone.png does not exist"):
        data[0]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DatasetFormatError, match="cannot read .*bad.json as JSON"):
        CocoDetection(str(tmp_path), str(tmp_path / "bad.json"))


_VOC_XML = """<annotation><filename>{name}.jpg</filename>
<size><width>10</width><height>7</height><depth>3</depth></size>
<object><name>dog</name><difficult>0</difficult>
<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>6</xmax><ymax>5</ymax></bndbox></object>
<object><name>person</name><difficult>1</difficult>
<bndbox><xmin>3</xmin><ymin>1</ymin><xmax>9</xmax><ymax>{ymax}</ymax></bndbox></object>
</annotation>"""


def _voc_folder(tmp_path, ymax=6, name="dog"):
    from PIL import Image
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (10, 7), (10, 200, 30)).save(tmp_path / "JPEGImages" / "000001.jpg")
    (tmp_path / "Annotations" / "000001.xml").write_text(
        _VOC_XML.format(name="000001", ymax=ymax).replace("<name>dog", f"<name>{name}"))
    (tmp_path / "ImageSets" / "Main" / "train.txt").write_text("000001\n")
    return str(tmp_path)


def test_voc_reader(tmp_path):
    data = VOCDetection(_voc_folder(tmp_path), "train")
    image, target = data[0]
    assert image.shape == (3, 7, 10) and len(data) == 1
    assert target["boxes"].numpy().tolist() == [[1, 2, 6, 5], [3, 1, 9, 6]]
    assert target["labels"].tolist() == [12, 15]           # 1 + index among the VOC classes
    assert target["difficult"].tolist() == [False, True]
    parsed = parse_voc_xml(tmp_path / "Annotations" / "000001.xml")
    assert parsed["size"] == (7, 10) and parsed["objects"][0]["name"] == "dog"


def test_voc_reader_refuses_bad_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="image set file .*val.txt does not exist"):
        VOCDetection(_voc_folder(tmp_path), "val")
    with pytest.raises(DatasetFormatError, match="a box with xmax < xmin or ymax < ymin"):
        VOCDetection(_voc_folder(tmp_path, ymax=0), "train")[0]
    with pytest.raises(DatasetFormatError, match="has class 'unicorn', not among the 20 classes"):
        VOCDetection(_voc_folder(tmp_path, name="unicorn"), "train")[0]
    (tmp_path / "Annotations" / "000001.xml").write_text("<annotation><object>")
    with pytest.raises(DatasetFormatError, match="cannot parse"):
        VOCDetection(str(tmp_path), "train")[0]
