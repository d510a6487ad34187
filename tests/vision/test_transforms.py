"""ember.vision.transforms: torchvision's formulas, checked against torch (interpolate,
grid_sample, pad), Pillow and hand-computed values, on PIL images, arrays and Tensors."""
import colorsys

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from PIL import Image, ImageEnhance

import ember
from ember.utils.data import DataLoader, Dataset
from ember.vision import transforms as T
from ember.vision.transforms import InterpolationMode
from ember.vision.transforms import functional as F
from tests.harness import assert_close, check_parity

RNG = np.random.default_rng(0)


def rgb(h=6, w=8):
    return RNG.integers(0, 256, (h, w, 3)).astype(np.uint8)


def as_tensor(hwc):
    return ember.from_numpy(np.ascontiguousarray(np.moveaxis(hwc, -1, 0)))


def kinds(hwc):
    """The same picture as a PIL image, an HWC array and a CHW tensor."""
    return [Image.fromarray(hwc), hwc.copy(), as_tensor(hwc)]


def to_hwc(img):
    if isinstance(img, Image.Image):
        return np.asarray(img)
    if isinstance(img, ember.Tensor):
        return np.moveaxis(img.numpy(), 0, -1)
    return img


# ------------------------------------------------------------------ conversions
def test_to_tensor_scales_uint8_and_moves_channels_first():
    a = rgb(3, 5)
    for pic in (a, Image.fromarray(a)):
        t = T.ToTensor()(pic)
        assert t.shape == (3, 3, 5) and t.dtype == ember.float32
        np.testing.assert_array_equal(t.numpy(), np.moveaxis(a, -1, 0).astype(np.float32) / np.float32(255))
    gray = T.ToTensor()(a[:, :, 0])
    assert gray.shape == (1, 3, 5)
    floats = np.linspace(0, 5, 6).reshape(2, 3)
    kept = T.ToTensor()(floats)
    assert kept.dtype == ember.float64 and np.array_equal(kept.numpy()[0], floats)


@pytest.mark.parametrize("mode, dtype, scale", [("L", np.float32, 1 / 255), ("1", np.float32, 1.0),
                                                ("I", np.int32, 1), ("F", np.float32, 1)])
def test_to_tensor_pil_modes(mode, dtype, scale):
    values = {"L": np.array([[0, 128], [255, 7]], np.uint8), "1": np.array([[0, 1], [1, 0]], bool),
              "I": np.array([[-5, 70000], [3, 0]], np.int32),
              "F": np.array([[0.25, -1.5], [3.0, 0.0]], np.float32)}[mode]
    pic = Image.fromarray(values) if mode != "1" else Image.fromarray(values).convert("1")
    t = F.to_tensor(pic)
    assert t.shape == (1, 2, 2) and t.numpy().dtype == dtype
    np.testing.assert_allclose(t.numpy()[0], values.astype(np.float64) * scale, rtol=1e-6)


def test_pil_to_tensor_keeps_values():
    a = rgb(4, 3)
    t = T.PILToTensor()(Image.fromarray(a))
    assert t.dtype == ember.uint8 and np.array_equal(t.numpy(), np.moveaxis(a, -1, 0))
    with pytest.raises(TypeError, match="PIL Image"):
        T.PILToTensor()(a)


def test_to_pil_image_truncates_like_torchvision():
    t = ember.tensor([[[0.0, 0.999], [1.0, 0.5]]])
    img = T.ToPILImage()(t)
    assert img.mode == "L" and np.asarray(img).tolist() == [[0, 254], [255, 127]]
    chw = np.stack([np.full((2, 3), v, np.float32) for v in (0.2, 0.4, 0.6)])
    img = F.to_pil_image(ember.from_numpy(chw))
    assert img.mode == "RGB" and np.asarray(img)[0, 0].tolist() == [51, 102, 153]
    assert F.to_pil_image(np.zeros((2, 2, 4), np.uint8)).mode == "RGBA"
    assert F.to_pil_image(np.zeros((2, 2, 2), np.uint8)).mode == "LA"
    assert F.to_pil_image(ember.full((1, 2, 2), -300, dtype=ember.int16)).getpixel((0, 0)) == -300
    assert F.to_pil_image(np.zeros((2, 2, 3), np.uint8), mode="HSV").mode == "HSV"
    assert F.to_pil_image(np.zeros((2, 2), np.float32), mode="F").mode == "F"
    a = rgb()
    assert np.array_equal(np.asarray(F.to_pil_image(F.to_tensor(a))), a)      # round trip


def test_to_pil_image_errors():
    with pytest.raises(ValueError, match="> 4 channels.*C x H x W"):
        F.to_pil_image(ember.zeros(8, 8, 3))                   # an HWC tensor: read as 8 channels
    with pytest.raises(ValueError, match="incorrect mode"):
        F.to_pil_image(np.zeros((2, 2), np.uint8), mode="F")
    with pytest.raises(TypeError, match="Tensor or ndarray"):
        F.to_pil_image([1, 2])


# ------------------------------------------------------------------ normalize
def test_normalize_matches_torch_forward_and_gradient():
    # inventory A31, F18
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

    def fn(lib, x):
        if lib is ember:
            return F.normalize(x, mean, std)
        return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    check_parity(fn, [RNG.random((2, 3, 4, 5)).astype(np.float32)])


def test_normalize_class_inplace_and_arrays():
    x = ember.from_numpy(RNG.random((1, 3, 3)).astype(np.float32))
    expected = (x.numpy() - 0.5) / 0.25
    out = T.Normalize([0.5], [0.25])(x)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    same = T.Normalize((0.5,), (0.25,), inplace=True)(x)
    assert same is x and np.allclose(x.numpy(), expected)
    hwc = RNG.random((4, 4, 3))
    np.testing.assert_allclose(F.normalize(hwc, [1, 2, 3], [2, 2, 2]), (hwc - [1, 2, 3]) / 2)
    assert repr(T.Normalize([0.5], [0.5])) == "Normalize(mean=[0.5], std=[0.5])"


def test_normalize_errors():
    with pytest.raises(TypeError, match="float tensor"):
        F.normalize(ember.zeros(3, 2, 2, dtype=ember.uint8), [0.5], [0.5])
    with pytest.raises(ValueError, match="division by zero"):
        F.normalize(ember.zeros(1, 2, 2), [0.5], [0.0])
    with pytest.raises(ValueError, match="mean has 2 values but the image has 3 channels"):
        F.normalize(ember.zeros(3, 2, 2), [0.5, 0.5], [1.0])
    with pytest.raises(TypeError, match="apply ToTensor first"):
        F.normalize(Image.fromarray(rgb()), [0.5], [0.5])


# ------------------------------------------------------------------ resize
@pytest.mark.parametrize("size_in, size_out", [((7, 9), (4, 5)), ((5, 6), (11, 13)), ((8, 8), (3, 12)),
                                               ((16, 5), (5, 16))])
@pytest.mark.parametrize("mode, antialias", [("nearest", False), ("nearest-exact", False),
                                             ("bilinear", True), ("bilinear", False),
                                             ("bicubic", True), ("bicubic", False)])
def test_tensor_resize_matches_torch_interpolate(size_in, size_out, mode, antialias):
    x = RNG.random((2, 3) + size_in).astype(np.float32)
    out = F.resize(ember.from_numpy(x), list(size_out), InterpolationMode(mode), antialias=antialias)
    kw = {} if mode.startswith("nearest") else {"align_corners": False, "antialias": antialias}
    expected = TF.interpolate(torch.from_numpy(x), size=size_out, mode=mode, **kw).numpy()
    assert_close(out.numpy(), expected, what=f"{mode} antialias={antialias}")


def test_uint8_resize_rounds_like_torchvision():
    a = rgb(9, 7)
    x = as_tensor(a)
    out = F.resize(x, [4, 3])
    expected = TF.interpolate(torch.from_numpy(x.numpy()[None].astype(np.float32)), size=(4, 3),
                              mode="bilinear", align_corners=False, antialias=True)
    expected = expected.round().clamp(0, 255).to(torch.uint8)[0].numpy()
    assert out.dtype == ember.uint8
    assert np.abs(out.numpy().astype(int) - expected).max() <= 1
    assert np.mean(out.numpy() == expected) > 0.95


def test_resize_output_size_rule():
    def size(h, w, s, max_size=None):
        return F.get_dimensions(F.resize(ember.zeros(1, h, w), s, max_size=max_size))[1:]
    assert size(40, 60, 32) == [32, 48]
    assert size(60, 40, 32) == [48, 32]
    assert size(33, 50, 32) == [32, 48]                # int(32 * 50 / 33) = int(48.48)
    assert size(40, 60, [20, 10]) == [20, 10]
    assert size(40, 100, 20, max_size=40) == [16, 40]  # long edge 50 capped at 40: short int(40*20/50)
    with pytest.raises(ValueError, match="max_size"):
        size(40, 60, [20, 10], max_size=50)
    with pytest.raises(ValueError, match="1 or 2 element"):
        F.resize(ember.zeros(1, 4, 4), [1, 2, 3])


def test_pil_resize_is_pillow_and_agrees_with_antialiased_tensor_resize():
    a = rgb(24, 30)
    img = Image.fromarray(a)
    out = T.Resize((10, 12))(img)
    assert out.size == (12, 10)
    assert np.array_equal(np.asarray(out), np.asarray(img.resize((12, 10), Image.BILINEAR)))
    tensor_out = F.resize(as_tensor(a), [10, 12]).numpy()
    assert np.abs(np.moveaxis(tensor_out, 0, -1).astype(int) - np.asarray(out).astype(int)).max() <= 1
    with pytest.warns(UserWarning, match="antialias is ignored"):
        F.resize(img, [10, 12], antialias=False)
    assert T.Resize(8, InterpolationMode.NEAREST)(img).size == (10, 8)


def test_array_resize_equals_tensor_resize():
    a = rgb(10, 14)
    out = T.Resize((5, 9), InterpolationMode.BICUBIC)(a)
    assert out.shape == (5, 9, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, to_hwc(T.Resize((5, 9), InterpolationMode.BICUBIC)(as_tensor(a))))


# ------------------------------------------------------------------ crops and padding
def test_crop_outside_the_image_is_zero_padded():
    a = rgb(4, 5)
    for img in kinds(a):
        out = to_hwc(F.crop(img, -1, 3, 3, 4))
        assert out.shape == (3, 4, 3)
        assert not out[0].any() and not out[:, 2:].any()
        np.testing.assert_array_equal(out[1:, :2], a[0:2, 3:5])


def test_center_crop_uses_pythons_rounding():
    a = RNG.integers(0, 256, (7, 6, 3)).astype(np.uint8)
    for img in kinds(a):
        out = to_hwc(T.CenterCrop((2, 3))(img))
        # top = round((7 - 2) / 2) = round(2.5) = 2 (half to even), left = round(1.5) = 2
        np.testing.assert_array_equal(out, a[2:4, 2:5])


def test_center_crop_larger_than_the_image_pads_with_zeros():
    a = RNG.integers(1, 256, (2, 2, 3)).astype(np.uint8)
    for img in kinds(a):
        out = to_hwc(F.center_crop(img, [4, 5]))
        assert out.shape == (4, 5, 3)
        np.testing.assert_array_equal(out[1:3, 1:3], a)        # 1 left/top, 2 right, 1 bottom
        assert out.sum() == a.astype(int).sum()


@pytest.mark.parametrize("mode, torch_mode", [("constant", "constant"), ("edge", "replicate"),
                                              ("reflect", "reflect")])
@pytest.mark.parametrize("padding", [2, (1, 3), (1, 0, 2, 3)])
def test_tensor_pad_matches_torch(mode, torch_mode, padding):
    x = RNG.random((2, 5, 6)).astype(np.float32)
    out = F.pad(ember.from_numpy(x), padding, fill=0.5 if mode == "constant" else 0, padding_mode=mode)
    p = F._parse_padding(padding, "test")                  # (left, top, right, bottom)
    kw = {"value": 0.5} if mode == "constant" else {}
    expected = TF.pad(torch.from_numpy(x)[None], (p[0], p[2], p[1], p[3]), mode=torch_mode, **kw)[0]
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_reflect_and_symmetric_padding_by_hand():
    row = ember.tensor([[[1, 2, 3, 4]]], dtype=ember.uint8)
    assert F.pad(row, [2, 0], padding_mode="reflect").tolist() == [[[3, 2, 1, 2, 3, 4, 3, 2]]]
    assert F.pad(row, [2, 0], padding_mode="symmetric").tolist() == [[[2, 1, 1, 2, 3, 4, 4, 3]]]
    assert F.pad(row, [-1, 0, 1, 0]).tolist() == [[[2, 3, 4, 0]]]          # negative crops


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pil_and_array_padding_agree(mode):
    a = rgb(4, 5)
    outs = [to_hwc(T.Pad((1, 2, 3, 1), fill=(10, 20, 30), padding_mode=mode)(img)) for img in kinds(a)]
    assert outs[0].shape == (7, 9, 3)
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])
    if mode == "constant":
        assert outs[0][0, 0].tolist() == [10, 20, 30]
    gray = Image.fromarray(a[:, :, 0])
    np.testing.assert_array_equal(np.asarray(F.pad(gray, 2, padding_mode=mode, fill=9)),
                                  F.pad(a[:, :, 0], 2, padding_mode=mode, fill=9))


def test_pad_errors():
    with pytest.raises(ValueError, match="1, 2, or 4 element"):
        T.Pad((1, 2, 3))
    with pytest.raises(ValueError, match="padding mode"):
        T.Pad(1, padding_mode="wrap")
    with pytest.raises(TypeError, match="padding"):
        F.pad(ember.zeros(1, 2, 2), "2")


def test_random_crop_is_a_window_of_the_padded_image():
    # inventory A29, E21
    a = rgb(6, 7)
    t = T.RandomCrop((5, 4), padding=2, padding_mode="edge")
    padded = to_hwc(F.pad(a, 2, padding_mode="edge"))
    for img in kinds(a):
        ember.manual_seed(3)
        top, left, h, w = T.RandomCrop.get_params(padded, (5, 4))
        ember.manual_seed(3)
        out = to_hwc(t(img))
        np.testing.assert_array_equal(out, padded[top:top + h, left:left + w])


def test_random_crop_positions_are_uniform():
    img = np.zeros((5, 6), np.uint8)
    tops, lefts = zip(*[T.RandomCrop.get_params(img, (3, 3))[:2] for _ in range(3000)])
    assert sorted(set(tops)) == [0, 1, 2] and sorted(set(lefts)) == [0, 1, 2, 3]
    np.testing.assert_allclose(np.bincount(tops) / 3000, 1 / 3, atol=0.04)
    assert T.RandomCrop.get_params(img, (5, 6)) == (0, 0, 5, 6)
    with pytest.raises(ValueError, match=r"required crop size \(6, 6\) is larger than input image size \(5, 6\)"):
        T.RandomCrop.get_params(img, (6, 6))


def test_random_crop_pad_if_needed_pads_both_sides():
    a = RNG.integers(1, 256, (3, 4)).astype(np.uint8)
    out = T.RandomCrop((5, 6), pad_if_needed=True)(a)
    assert out.shape == (5, 6)
    assert (out > 0).sum() == 12          # the whole image is inside the crop


def test_batch_random_crop_crops_each_image_at_its_own_window():
    """Image i of the batch is ``RandomCrop``'s window of the padded image i, the corners drawn
    from the fetch stream, independently per image (a Tensor or a NumPy batch)."""
    batch = RNG.standard_normal((16, 3, 6, 7)).astype(np.float32)
    t = T.BatchRandomCrop((5, 4), padding=(1, 2), fill=[0.5, -1.0, 2.0])
    padded = np.stack([F.pad(ember.from_numpy(b), (1, 2), fill=[0.5, -1.0, 2.0]).numpy()
                       for b in batch])
    for kind in (np.asarray, ember.from_numpy):
        ember.manual_seed(7)
        out = t(kind(batch))
        assert type(out) is type(kind(batch))
        out = out.numpy() if isinstance(out, ember.Tensor) else out
        ember.manual_seed(7)
        from ember.utils.data import fetch_rng
        top, left = fetch_rng().integers(0, np.array([[padded.shape[2] - 4], [padded.shape[3] - 3]]),
                                         size=(2, 16))
        for i in range(16):
            np.testing.assert_array_equal(out[i], padded[i, :, top[i]:top[i] + 5,
                                                         left[i]:left[i] + 4])
        assert len({(a, b) for a, b in zip(top, left)}) > 1           # not one window for all
    with pytest.raises(ValueError, match=r"expected a batch of shape \(N, C, H, W\)"):
        t(batch[0])
    with pytest.raises(ValueError, match=r"required crop size \(9, 4\) is larger"):
        T.BatchRandomCrop((9, 4))(batch)


# ------------------------------------------------------------------ flips
def test_flips_on_every_kind():
    a = rgb()
    for img in kinds(a):
        np.testing.assert_array_equal(to_hwc(F.hflip(img)), a[:, ::-1])
        np.testing.assert_array_equal(to_hwc(F.vflip(img)), a[::-1])
        np.testing.assert_array_equal(to_hwc(T.RandomHorizontalFlip(p=1.0)(img)), a[:, ::-1])
        np.testing.assert_array_equal(to_hwc(T.RandomVerticalFlip(p=0.0)(img)), a)
    batch = ember.from_numpy(RNG.random((2, 3, 4, 5)).astype(np.float32))
    np.testing.assert_array_equal(F.hflip(batch).numpy(), batch.numpy()[..., ::-1])


def test_random_flip_probability_and_seed():
    # inventory A29, E21
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    flip = T.RandomHorizontalFlip(p=0.3)
    ember.manual_seed(1)
    flipped = [bool(flip(a)[0, 0] == 2) for _ in range(4000)]
    assert abs(np.mean(flipped) - 0.3) < 0.03
    ember.manual_seed(1)
    assert flipped[:50] == [bool(flip(a)[0, 0] == 2) for _ in range(50)]


def test_transforms_refuse_tensors_that_require_grad():
    x = ember.zeros(1, 3, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="hflip: image transforms do not record autograd"):
        F.hflip(x)
    with ember.no_grad():
        assert F.hflip(x).shape == (1, 3, 3)


# ------------------------------------------------------------------ rotation and affine maps
def torchvision_grid(matrix, w, h, ow, oh):
    """torchvision's _gen_affine_grid, written with torch: the oracle for our resampling."""
    theta = torch.tensor(matrix, dtype=torch.float64).reshape(1, 2, 3)
    xs = torch.linspace(-ow * 0.5 + 0.5, ow * 0.5 - 0.5, ow, dtype=torch.float64)
    ys = torch.linspace(-oh * 0.5 + 0.5, oh * 0.5 - 0.5, oh, dtype=torch.float64)
    base = torch.stack([xs.expand(oh, ow), ys[:, None].expand(oh, ow), torch.ones(oh, ow, dtype=torch.float64)], -1)
    grid = base.view(1, -1, 3) @ (theta.transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h], dtype=torch.float64))
    return grid.view(1, oh, ow, 2)


@pytest.mark.parametrize("k", [1, -1, 2])
def test_tensor_rotate_by_right_angles_is_rot90(k):
    x = ember.from_numpy(RNG.random((2, 6, 6 if k != 2 else 9)).astype(np.float32))
    out = F.rotate(x, 90.0 * k)                                # counter-clockwise
    np.testing.assert_array_equal(out.numpy(), np.rot90(x.numpy(), k, axes=(-2, -1)))


def test_pil_rotate_by_90_is_rot90():
    a = rgb(5, 5)
    np.testing.assert_array_equal(np.asarray(F.rotate(Image.fromarray(a), 90)), np.rot90(a, 1))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("angle, expand, center", [(30.0, False, None), (-57.0, True, None),
                                                   (12.5, False, [2, 3])])
def test_tensor_rotate_matches_grid_sample(mode, angle, expand, center):
    x = RNG.random((3, 7, 10))
    out = F.rotate(ember.from_numpy(x), angle, InterpolationMode(mode), expand=expand, center=center)
    h, w = x.shape[1:]
    center_f = [0.0, 0.0] if center is None else [c - s * 0.5 for c, s in zip(center, (w, h))]
    from ember.vision.transforms._array import affine_output_size, inverse_affine_matrix
    matrix = inverse_affine_matrix(center_f, -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
    ow, oh = affine_output_size(matrix, w, h) if expand else (w, h)
    grid = torchvision_grid(matrix, w, h, ow, oh)
    expected = TF.grid_sample(torch.from_numpy(x)[None], grid, mode=mode, padding_mode="zeros",
                              align_corners=False)[0].numpy()
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-10)


def test_rotate_expand_size():
    a = rgb(7, 10)
    for angle in (30, -57, 135):
        pil = F.rotate(Image.fromarray(a), angle, expand=True)
        tensor = F.rotate(as_tensor(a), angle, expand=True)
        assert F.get_image_size(tensor) == list(pil.size)
    # torchvision's rule for tensors: the rotated corners of the 10 x 7 image, shifted by
    # (5, 3.5), span x in [1.5, 8.5] and y in [-1.5, 8.5]: ceil(max) - floor(min) = 8 x 11
    # (Pillow measures from pixel centres and gets 7 x 10)
    assert F.get_image_size(F.rotate(as_tensor(a), 90, expand=True)) == [8, 11]


def test_rotate_fill_and_pil_tensor_agreement():
    a = rgb(9, 9)
    for img in kinds(a):
        out = to_hwc(F.rotate(img, 45, fill=[7, 8, 9]))
        assert out[0, 0].tolist() == [7, 8, 9]                       # corners leave the image
        assert out[4, 4].tolist() == a[4, 4].tolist()                # the centre stays
    pil = np.asarray(F.rotate(Image.fromarray(a), 33))
    tensor = to_hwc(F.rotate(as_tensor(a), 33))
    assert np.mean(np.all(pil == tensor, axis=-1)) > 0.8


def test_affine_translation_by_hand():
    a = RNG.integers(1, 256, (5, 6, 3)).astype(np.uint8)
    for img in kinds(a):
        out = to_hwc(F.affine(img, angle=0.0, translate=[2, 1], scale=1.0, shear=0.0, fill=0))
        np.testing.assert_array_equal(out[1:, 2:], a[:-1, :-2])       # out[y, x] = in[y-1, x-2]
        assert not out[0].any() and not out[:, :2].any()


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_tensor_affine_matches_grid_sample(mode):
    x = RNG.random((2, 3, 8, 11))
    angle, translate, scale, shear = 25.0, [1.0, -2.0], 1.3, [10.0, -5.0]
    out = F.affine(ember.from_numpy(x), angle, translate, scale, shear, InterpolationMode(mode))
    from ember.vision.transforms._array import inverse_affine_matrix
    grid = torchvision_grid(inverse_affine_matrix([0, 0], angle, translate, scale, shear), 11, 8, 11, 8)
    expected = TF.grid_sample(torch.from_numpy(x), grid.expand(2, -1, -1, -1), mode=mode,
                              padding_mode="zeros", align_corners=False).numpy()
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-10)


def test_affine_identity_and_errors():
    a = rgb()
    for img in kinds(a):
        np.testing.assert_array_equal(to_hwc(F.affine(img, 0.0, [0, 0], 1.0, 0.0)), a)
    with pytest.raises(ValueError, match="scale should be positive"):
        F.affine(a, 0, [0, 0], 0.0, 0)
    with pytest.raises(ValueError, match="NEAREST and BILINEAR"):
        F.rotate(as_tensor(a), 10, InterpolationMode.BICUBIC)
    assert F.rotate(Image.fromarray(a), 10, InterpolationMode.BICUBIC).size == (8, 6)


def test_random_rotation_and_affine_parameters():
    angles = [T.RandomRotation.get_params([-10.0, 20.0]) for _ in range(500)]
    assert -10 <= min(angles) < -8 and 18 < max(angles) <= 20
    assert T.RandomRotation(15).degrees == [-15.0, 15.0]
    for _ in range(200):
        angle, (tx, ty), scale, (sx, sy) = T.RandomAffine.get_params(
            [-5.0, 5.0], (0.2, 0.1), (0.8, 1.2), [-3.0, 3.0, 1.0, 2.0], [30, 20])
        assert -5 <= angle <= 5 and abs(tx) <= 6 and abs(ty) <= 2
        assert isinstance(tx, int) and 0.8 <= scale <= 1.2 and -3 <= sx <= 3 and 1 <= sy <= 2
    with pytest.raises(ValueError, match="between 0 and 1"):
        T.RandomAffine(0, translate=(1.5, 0))
    with pytest.raises(ValueError, match="must be positive"):
        T.RandomRotation(-3)
    a = rgb(8, 8)
    for img in kinds(a):
        assert to_hwc(T.RandomAffine(20, (0.1, 0.1), (0.9, 1.1), 5, fill=3)(img)).shape == (8, 8, 3)
        assert to_hwc(T.RandomRotation(20, expand=True)(img)).shape[2] == 3


# ------------------------------------------------------------------ colour
def test_brightness_uint8_truncates_like_torch():
    x = ember.tensor([[[100, 201, 3]]], dtype=ember.uint8)
    assert F.adjust_brightness(x, 1.5).tolist() == [[[150, 255, 4]]]
    assert F.adjust_brightness(x, 0.5).tolist() == [[[50, 100, 1]]]
    f = ember.tensor([[[0.2, 0.9]]])
    np.testing.assert_allclose(F.adjust_brightness(f, 1.5).numpy(), [[[0.3, 1.0]]], rtol=1e-6)
    with pytest.raises(ValueError, match="not non-negative"):
        F.adjust_brightness(x, -1)


def luma(x):
    return 0.2989 * x[..., 0, :, :] + 0.587 * x[..., 1, :, :] + 0.114 * x[..., 2, :, :]


def test_contrast_saturation_grayscale_formulas():
    x = RNG.random((3, 4, 5)).astype(np.float32)
    t = ember.from_numpy(x)
    gray = luma(x)
    np.testing.assert_allclose(F.rgb_to_grayscale(t).numpy()[0], gray, rtol=1e-6)
    np.testing.assert_allclose(F.rgb_to_grayscale(t, 3).numpy(), np.stack([gray] * 3), rtol=1e-6)
    np.testing.assert_allclose(F.adjust_contrast(t, 0.3).numpy(),
                               np.clip(0.3 * x + 0.7 * gray.mean(), 0, 1), rtol=1e-5)
    np.testing.assert_allclose(F.adjust_saturation(t, 1.7).numpy(),
                               np.clip(1.7 * x - 0.7 * gray, 0, 1), rtol=1e-5, atol=1e-6)
    u = ember.tensor([[[10]], [[200]], [[30]]], dtype=ember.uint8)
    assert F.rgb_to_grayscale(u).tolist() == [[[int(0.2989 * 10 + 0.587 * 200 + 0.114 * 30)]]]


def test_hue_matches_colorsys():
    x = RNG.random((3, 3, 4))
    out = F.adjust_hue(ember.from_numpy(x), 0.2).numpy()
    for i in range(3):
        for j in range(4):
            h, s, v = colorsys.rgb_to_hsv(*x[:, i, j])
            np.testing.assert_allclose(out[:, i, j], colorsys.hsv_to_rgb((h + 0.2) % 1.0, s, v), atol=1e-12)
    red = ember.tensor([[[255]], [[0]], [[0]]], dtype=ember.uint8)
    assert F.adjust_hue(red, 1 / 3).tolist() == [[[0]], [[255]], [[0]]]
    assert F.adjust_hue(red, -0.5).tolist() == [[[0]], [[255]], [[255]]]
    with pytest.raises(ValueError, match=r"not in \[-0.5, 0.5\]"):
        F.adjust_hue(red, 0.6)


def test_pil_colour_ops_are_pillows():
    img = Image.fromarray(rgb(5, 6))
    for fn, enhancer in ((F.adjust_brightness, ImageEnhance.Brightness),
                         (F.adjust_contrast, ImageEnhance.Contrast),
                         (F.adjust_saturation, ImageEnhance.Color)):
        np.testing.assert_array_equal(np.asarray(fn(img, 1.3)), np.asarray(enhancer(img).enhance(1.3)))
    assert F.rgb_to_grayscale(img).mode == "L" and T.Grayscale(3)(img).mode == "RGB"
    assert np.array_equal(np.asarray(F.adjust_hue(img, 0.0)), np.asarray(img.convert("HSV").convert("RGB")))
    shifted = np.asarray(F.adjust_hue(Image.new("RGB", (1, 1), (255, 0, 0)), 1 / 3))[0, 0]
    assert shifted.argmax() == 1 and shifted[1] > 240


def test_colour_channel_checks():
    with pytest.raises(TypeError, match="1 or 3 channels, got 4"):
        F.adjust_brightness(ember.zeros(4, 2, 2), 1.2)
    one = ember.from_numpy(RNG.random((1, 2, 2)).astype(np.float32))
    assert np.array_equal(F.adjust_saturation(one, 2.0).numpy(), one.numpy())
    assert np.array_equal(F.adjust_hue(one, 0.3).numpy(), one.numpy())


def test_color_jitter_ranges_and_order():
    jitter = T.ColorJitter(brightness=0.5, contrast=(0.2, 0.4), saturation=0, hue=0.1)
    assert jitter.brightness == (0.5, 1.5) and jitter.contrast == (0.2, 0.4)
    assert jitter.saturation is None and jitter.hue == (-0.1, 0.1)
    assert T.ColorJitter(brightness=2).brightness == (0.0, 3.0)
    for _ in range(100):
        order, b, c, s, h = T.ColorJitter.get_params(jitter.brightness, jitter.contrast, None, jitter.hue)
        assert sorted(order) == [0, 1, 2, 3] and s is None
        assert 0.5 <= b <= 1.5 and 0.2 <= c <= 0.4 and -0.1 <= h <= 0.1
    with pytest.raises(ValueError, match="hue values should be between"):
        T.ColorJitter(hue=0.6)
    with pytest.raises(ValueError, match="non negative"):
        T.ColorJitter(brightness=-0.1)
    a = rgb()
    assert np.array_equal(T.ColorJitter()(a), a)


def test_color_jitter_applies_the_drawn_factors_in_the_drawn_order():
    # inventory A29, E21
    x = ember.from_numpy(RNG.random((3, 4, 4)).astype(np.float32))
    jitter = T.ColorJitter(0.4, 0.4, 0.4, 0.1)
    ember.manual_seed(8)
    order, *factors = T.ColorJitter.get_params(jitter.brightness, jitter.contrast,
                                               jitter.saturation, jitter.hue)
    expected = x
    fns = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue]
    for k in order:
        expected = fns[k](expected, factors[k])
    ember.manual_seed(8)
    np.testing.assert_array_equal(jitter(x).numpy(), expected.numpy())


# ------------------------------------------------------------------ resized crop, erasing, misc
def test_random_resized_crop_region_statistics():
    img = np.zeros((40, 50), np.uint8)
    for _ in range(300):
        top, left, h, w = T.RandomResizedCrop.get_params(img, (0.08, 1.0), (3 / 4, 4 / 3))
        assert 0 <= top <= 40 - h and 0 <= left <= 50 - w
        area = h * w / 2000
        assert 0.06 <= area <= 1.0 and 0.7 <= w / h <= 1.45
    out = T.RandomResizedCrop(16)(rgb(40, 50))
    assert out.shape == (16, 16, 3)
    assert T.RandomResizedCrop((8, 12))(Image.fromarray(rgb(40, 50))).size == (12, 8)


def test_random_resized_crop_falls_back_to_the_central_crop():
    img = np.zeros((10, 40), np.uint8)
    # no region of 2-3x the image's area fits: central crop with the ratio clamped to 4/3
    assert T.RandomResizedCrop.get_params(img, (2.0, 3.0), (3 / 4, 4 / 3)) == (0, 13, 10, 13)
    assert T.RandomResizedCrop.get_params(img.T, (2.0, 3.0), (3 / 4, 4 / 3)) == (13, 0, 13, 10)
    square = np.zeros((8, 8), np.uint8)
    assert T.RandomResizedCrop.get_params(square, (2.0, 3.0), (3 / 4, 4 / 3)) == (0, 0, 8, 8)


def test_random_erasing():
    x = ember.ones(3, 20, 30)
    out = T.RandomErasing(p=1.0, value=(0.1, 0.2, 0.3))(x)
    erased = out.numpy()[0] != 1
    rows, cols = np.nonzero(erased)
    h, w = np.ptp(rows) + 1, np.ptp(cols) + 1
    assert erased.sum() == h * w and 0.02 * 600 - 2 <= h * w <= 0.33 * 600 + 2
    np.testing.assert_allclose(out.numpy()[:, rows[0], cols[0]], [0.1, 0.2, 0.3], rtol=1e-6)
    assert x.numpy().min() == 1                                     # not in place by default
    noisy = T.RandomErasing(p=1.0, value="random")(x).numpy()
    assert noisy.std() > 0.05 and (noisy != 1).sum() % 3 == 0
    same = T.RandomErasing(p=1.0, inplace=True)(x)
    assert same is x and x.numpy().min() == 0
    with pytest.raises(TypeError, match="Tensor"):
        T.RandomErasing(p=1.0)(Image.fromarray(rgb()))
    with pytest.raises(ValueError, match="'random'"):
        T.RandomErasing(value="noise")
    with pytest.raises(ValueError, match="single value or 3"):
        T.RandomErasing(p=1.0, value=(1, 2))(ember.ones(3, 8, 8))


def test_erase_on_arrays_and_probability_zero():
    a = rgb(6, 6)
    out = F.erase(a, 1, 2, 3, 2, np.array([[[7]], [[8]], [[9]]]))
    assert out[1:4, 2:4].reshape(-1, 3).tolist() == [[7, 8, 9]] * 6
    assert np.array_equal(np.delete(out, np.s_[2:4], axis=1), np.delete(a, np.s_[2:4], axis=1))
    unchanged = rgb(6, 6)
    assert T.RandomErasing(p=0.0)(unchanged) is unchanged


def test_compose_lambda_random_apply_and_repr():
    double = T.Lambda(lambda x: x * 2)
    pipeline = T.Compose([double, T.RandomApply([double, double], p=1.0), T.RandomApply([double], p=0.0)])
    assert pipeline(3) == 24
    text = repr(T.Compose([T.ToTensor(), T.Normalize([0.5], [0.5])]))
    assert text == "Compose(\n    ToTensor()\n    Normalize(mean=[0.5], std=[0.5])\n)"
    with pytest.raises(TypeError, match="callable"):
        T.Lambda(3)
    ember.manual_seed(0)
    hits = sum(T.RandomApply([double], p=0.25)(1) == 2 for _ in range(2000))
    assert abs(hits / 2000 - 0.25) < 0.03


AUGMENT = T.Compose([T.RandomResizedCrop(12, scale=(0.5, 1.0)), T.RandomHorizontalFlip(),
                     T.ColorJitter(0.3, 0.3, 0.3, 0.05), T.RandomRotation(10), T.ToTensor(),
                     T.RandomErasing(p=0.5)])


def test_random_pipelines_are_reproducible_under_manual_seed():
    img = Image.fromarray(rgb(16, 16))
    ember.manual_seed(21)
    a = [AUGMENT(img).numpy() for _ in range(3)]
    ember.manual_seed(21)
    b = [AUGMENT(img).numpy() for _ in range(3)]
    ember.manual_seed(22)
    c = [AUGMENT(img).numpy() for _ in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


class Pictures(Dataset):
    def __init__(self):
        self.images = [Image.fromarray(rgb(16, 16)) for _ in range(10)]

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return AUGMENT(self.images[i]), i


def test_augmentation_in_a_loader_does_not_depend_on_num_workers():
    ds = Pictures()

    def run(workers):
        ember.manual_seed(5)
        return [x.numpy() for x, _ in DataLoader(ds, batch_size=3, shuffle=True, num_workers=workers)]
    reference = run(0)
    for a, b in zip(run(2), reference):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(run(0), run(0)[::-1]))


def test_dimensions_helpers_and_type_errors():
    a = rgb(4, 7)
    for img in kinds(a):
        assert F.get_dimensions(img) == [3, 4, 7] and F.get_image_size(img) == [7, 4]
    assert F.get_dimensions(np.zeros((4, 7))) == [1, 4, 7]
    with pytest.raises(TypeError, match="expected a PIL Image, a NumPy array"):
        F.hflip([[1, 2]])
    with pytest.raises(ValueError, match="interpolation must be an InterpolationMode"):
        F.resize(a, 3, interpolation="lanczos")
    assert F.resize(a, 2).shape == (2, 3, 3)                  # short edge 4 -> 2, long int(2 * 7 / 4)


def test_tensor_transforms_work_without_pillow():
    import subprocess
    import sys
    code = ("import sys; sys.modules['PIL'] = None\n"            # any 'import PIL' now fails
            "import ember\n"
            "from ember.vision import transforms as T\n"
            "x = ember.rand(3, 8, 8)\n"
            "tf = T.Compose([T.RandomResizedCrop(6), T.RandomHorizontalFlip(), T.ColorJitter(0.2, 0.2),\n"
            "                T.Normalize([0.5] * 3, [0.2] * 3)])\n"
            "assert tf(x).shape == (3, 6, 6)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=__file__.rsplit("/tests/", 1)[0])
    assert result.returncode == 0, result.stderr


def test_class_keywords_reach_the_functions():
    a = rgb(12, 16)
    x = as_tensor(a)
    sharp = T.Resize((5, 7), antialias=False)(x)
    np.testing.assert_array_equal(sharp.numpy(), F.resize(x, [5, 7], antialias=False).numpy())
    assert not np.array_equal(sharp.numpy(), T.Resize((5, 7))(x).numpy())
    assert T.Resize(6, max_size=7)(x).shape == (3, 5, 7)          # 6 x 8 capped: int(7 * 6 / 8) = 5
    for antialias in (True, False):
        ember.manual_seed(2)
        out = T.RandomResizedCrop(5, antialias=antialias)(x)
        ember.manual_seed(2)
        top, left, h, w = T.RandomResizedCrop.get_params(x, (0.08, 1.0), (3 / 4, 4 / 3))
        np.testing.assert_array_equal(out.numpy(), F.resized_crop(x, top, left, h, w, [5, 5],
                                                                  antialias=antialias).numpy())
    rotation = T.RandomRotation((30, 30), InterpolationMode.BILINEAR, center=[3, 4], fill=9)
    np.testing.assert_array_equal(rotation(x).numpy(),
                                  F.rotate(x, 30, InterpolationMode.BILINEAR, center=[3, 4], fill=9).numpy())
    affine = T.RandomAffine((20, 20), interpolation=InterpolationMode.BILINEAR, fill=5, center=[1, 2])
    np.testing.assert_array_equal(affine(x).numpy(), F.affine(x, 20, [0, 0], 1.0, [0.0, 0.0],
                                                              InterpolationMode.BILINEAR, 5, [1, 2]).numpy())
    assert T.ToPILImage(mode="YCbCr")(a).mode == "YCbCr"


def test_colour_jitter_gives_the_same_numbers_on_arrays_and_tensors():
    a = rgb(5, 7)
    jitter = T.ColorJitter(0.5, 0.5, 0.5, 0.2)
    ember.manual_seed(6)
    from_array = jitter(a)
    ember.manual_seed(6)
    np.testing.assert_array_equal(from_array, to_hwc(jitter(as_tensor(a))))
    assert from_array.dtype == np.uint8 and not np.array_equal(from_array, a)
