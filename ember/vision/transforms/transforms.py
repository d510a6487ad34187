"""Transform classes (torchvision's ``transforms``): callables on one image.

The lectures' data augmentation: "Horizontal flip, Random crop, Color casting, Geometric
distortion" (`001` L936-942) and "Horizontal Flip, Color Jitter, Image Cropping", with the
rule that an augmentation must not change what the image shows (`003` L3242-3261;
inventory A29, E21). Typical use::

    train_tf = Compose([RandomCrop(28, padding=2), RandomHorizontalFlip(), ToTensor(),
                        Normalize((0.1307,), (0.3081,))])

Random transforms draw from ``ember.utils.data.fetch_rng()``: ember's default generator
(so ``ember.manual_seed`` makes them reproducible), or, inside a ``DataLoader``, the random
stream of the batch being fetched (reproducible whatever ``num_workers``).
"""
import math
import numbers
import warnings

from ember.utils.data.worker import fetch_rng
from ember.vision.transforms import functional as F
from ember.vision.transforms.functional import InterpolationMode


class Transform:
    """Base class: ``transform(img)`` calls ``forward(img)``; ``repr`` shows ``extra_repr()``."""

    def __call__(self, img):
        return self.forward(img)

    def extra_repr(self):
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"


class Compose(Transform):
    """Apply ``transforms`` one after the other."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def forward(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        inner = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({inner}\n)"


class ToTensor(Transform):
    """PIL image or ``(H, W, C)`` array -> ``(C, H, W)`` Tensor; uint8 becomes float32 in
    [0, 1] (divided by 255)."""

    def forward(self, pic):
        return F.to_tensor(pic)


class PILToTensor(Transform):
    """PIL image -> ``(C, H, W)`` Tensor of the same values (uint8 stays uint8)."""

    def forward(self, pic):
        return F.pil_to_tensor(pic)


class ToPILImage(Transform):
    """``(C, H, W)`` Tensor or ``(H, W, C)`` array -> PIL image (see ``F.to_pil_image``)."""

    def __init__(self, mode=None):
        self.mode = mode

    def forward(self, pic):
        return F.to_pil_image(pic, self.mode)

    def extra_repr(self):
        return f"mode={self.mode}" if self.mode is not None else ""


class Normalize(Transform):
    """``output[c] = (input[c] - mean[c]) / std[c]`` for a float ``(..., C, H, W)`` Tensor: the
    lectures' feature standardization to mean 0, variance 1 (inventory A31, F18)."""

    def __init__(self, mean, std, inplace=False):
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def forward(self, tensor):
        return F.normalize(tensor, self.mean, self.std, self.inplace)

    def extra_repr(self):
        return f"mean={self.mean}, std={self.std}"


def _check_size(size, name):
    if isinstance(size, bool) or not isinstance(size, (int, list, tuple)):
        raise TypeError(f"{name}: size should be int or sequence. Got {type(size).__name__}")
    if isinstance(size, (list, tuple)) and len(size) not in (1, 2):
        raise ValueError(f"{name}: if size is a sequence, it should have 1 or 2 values, got {size}")
    return size


def _pair(size, name):
    """``(h, w)`` from an int or a 1- or 2-sequence."""
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, (list, tuple)) and len(size) == 1:
        return int(size[0]), int(size[0])
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise ValueError(f"{name}: please provide only two dimensions (h, w) for size, got {size}")
    return int(size[0]), int(size[1])


class Resize(Transform):
    """Resize to ``size`` (``(h, w)``, or an int for the shorter edge); see ``F.resize``."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
                 antialias=True):
        self.size = _check_size(size, "Resize")
        self.interpolation = InterpolationMode(interpolation)
        self.max_size = max_size
        self.antialias = antialias

    def forward(self, img):
        return F.resize(img, self.size, self.interpolation, self.max_size, self.antialias)

    def extra_repr(self):
        return (f"size={self.size}, interpolation={self.interpolation.value}, "
                f"max_size={self.max_size}, antialias={self.antialias}")


class CenterCrop(Transform):
    """The central ``size`` window (zero-padded if the image is smaller)."""

    def __init__(self, size):
        self.size = _pair(size, "CenterCrop")

    def forward(self, img):
        return F.center_crop(img, self.size)

    def extra_repr(self):
        return f"size={self.size}"


class Pad(Transform):
    """Pad the borders; see ``F.pad`` for ``padding``, ``fill`` and ``padding_mode``."""

    def __init__(self, padding, fill=0, padding_mode="constant"):
        F._parse_padding(padding, "Pad")
        if not isinstance(fill, (numbers.Number, tuple, list)):
            raise TypeError(f"Pad: got inappropriate fill arg {fill!r}")
        if padding_mode not in F._PADDING_MODES:
            raise ValueError(f"Pad: padding mode should be either constant, edge, reflect or "
                             f"symmetric, got {padding_mode!r}")
        self.padding = padding
        self.fill = fill
        self.padding_mode = padding_mode

    def forward(self, img):
        return F.pad(img, self.padding, self.fill, self.padding_mode)

    def extra_repr(self):
        return f"padding={self.padding}, fill={self.fill}, padding_mode={self.padding_mode}"


def _crop_arguments(crop, name, size, padding, fill, padding_mode):
    """Check and store the arguments ``RandomCrop`` and ``BatchRandomCrop`` share."""
    crop.size = _pair(size, name)
    if padding is not None:
        F._parse_padding(padding, name)
    if padding_mode not in F._PADDING_MODES:
        raise ValueError(f"{name}: padding mode should be either constant, edge, reflect or "
                         f"symmetric, got {padding_mode!r}")
    crop.padding, crop.fill, crop.padding_mode = padding, fill, padding_mode


class RandomCrop(Transform):
    """A random ``size`` window, after optional padding.

    ``padding`` pads every image first (as ``Pad``, with ``fill`` and ``padding_mode``);
    ``pad_if_needed`` pads an image smaller than ``size`` by the missing amount on both
    sides of that axis. The corner is uniform over the valid positions.
    """

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        _crop_arguments(self, "RandomCrop", size, padding, fill, padding_mode)
        self.pad_if_needed = pad_if_needed

    @staticmethod
    def get_params(img, output_size):
        """``(top, left, h, w)`` of a uniformly random crop of ``output_size``."""
        _, h, w = F.get_dimensions(img)
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: required crop size {(th, tw)} is larger than input "
                             f"image size {(h, w)}")
        if w == tw and h == th:
            return 0, 0, h, w
        rng = fetch_rng()
        top = int(rng.integers(0, h - th + 1))
        left = int(rng.integers(0, w - tw + 1))
        return top, left, th, tw

    def forward(self, img):
        if self.padding is not None:
            img = F.pad(img, self.padding, self.fill, self.padding_mode)
        _, h, w = F.get_dimensions(img)
        if self.pad_if_needed and w < self.size[1]:
            img = F.pad(img, [self.size[1] - w, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and h < self.size[0]:
            img = F.pad(img, [0, self.size[0] - h], self.fill, self.padding_mode)
        return F.crop(img, *self.get_params(img, self.size))

    def extra_repr(self):
        return f"size={self.size}, padding={self.padding}"


class BatchRandomCrop(Transform):
    """``RandomCrop`` drawn independently for every image of a batch ``(N, C, H, W)`` (an
    Ember Tensor or NumPy array), in one vectorised pass.

    Ember's batched form of ``RandomCrop`` for in-memory datasets that transform a whole batch
    in ``__getitems__`` (what ``ember train`` does: calling ``RandomCrop`` image by image costs
    about 250 us an image, as much as LeNet-5's whole training step per image). torchvision has
    no such transform: applied to a 4-D tensor its transforms draw one window for the batch.
    Each image ``i`` gives ``crop(pad(image_i), top_i, left_i, *size)`` with ``top_i`` and
    ``left_i`` uniform over the valid positions, exactly as ``RandomCrop`` would.

    With ``padding=s`` and ``size`` the image's own size this is the classic "random shift by
    up to ``s`` pixels" augmentation of MNIST and CIFAR.
    """

    def __init__(self, size, padding=None, fill=0, padding_mode="constant"):
        _crop_arguments(self, "BatchRandomCrop", size, padding, fill, padding_mode)

    def forward(self, batch):
        import numpy as np

        import ember
        tensor = isinstance(batch, ember.Tensor)
        images = batch if tensor else ember.from_numpy(np.asarray(batch))
        if images.ndim != 4:
            raise ValueError(f"BatchRandomCrop: expected a batch of shape (N, C, H, W), got "
                             f"shape {tuple(images.shape)}")
        if self.padding is not None:
            images = F.pad(images, self.padding, self.fill, self.padding_mode)
        images = images.detach().numpy()
        n, _, h, w = images.shape
        th, tw = self.size
        if h < th or w < tw:
            raise ValueError(f"BatchRandomCrop: required crop size {(th, tw)} is larger than "
                             f"the (padded) image size {(h, w)}")
        top, left = fetch_rng().integers(0, np.array([[h - th + 1], [w - tw + 1]]), size=(2, n))
        windows = np.lib.stride_tricks.sliding_window_view(images, (th, tw), axis=(2, 3))
        out = np.ascontiguousarray(windows[np.arange(n), :, top, left])     # (N, C, th, tw)
        return ember.from_numpy(out) if tensor else out

    def extra_repr(self):
        return f"size={self.size}, padding={self.padding}"


def _check_probability(p, name):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: probability p should be between 0 and 1, got {p}")
    return p


class RandomHorizontalFlip(Transform):
    """Mirror left-right with probability ``p``."""

    def __init__(self, p=0.5):
        self.p = _check_probability(p, "RandomHorizontalFlip")

    def forward(self, img):
        return F.hflip(img) if fetch_rng().random() < self.p else img

    def extra_repr(self):
        return f"p={self.p}"


class RandomVerticalFlip(Transform):
    """Mirror top-bottom with probability ``p``."""

    def __init__(self, p=0.5):
        self.p = _check_probability(p, "RandomVerticalFlip")

    def forward(self, img):
        return F.vflip(img) if fetch_rng().random() < self.p else img

    def extra_repr(self):
        return f"p={self.p}"


def _setup_angle(value, name, sizes=(2,)):
    """A number ``d >= 0`` becomes ``[-d, d]``; a sequence must have one of ``sizes`` values."""
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"If {name} is a single number, it must be positive, got {value}.")
        return [-float(value), float(value)]
    if not isinstance(value, (list, tuple)) or len(value) not in sizes:
        raise ValueError(f"{name} should be a number or a sequence of "
                         f"{' or '.join(map(str, sizes))} values, got {value!r}")
    return [float(v) for v in value]


def _check_center(center, name):
    if center is not None and (not isinstance(center, (list, tuple)) or len(center) != 2):
        raise ValueError(f"{name}: center should be a sequence of length 2, got {center!r}")
    return center


class RandomRotation(Transform):
    """Rotate by an angle uniform in ``degrees`` (``d`` means ``[-d, d]``), counter-clockwise;
    ``interpolation``, ``expand``, ``center`` and ``fill`` as ``F.rotate``."""

    def __init__(self, degrees, interpolation=InterpolationMode.NEAREST, expand=False,
                 center=None, fill=0):
        self.degrees = _setup_angle(degrees, "degrees")
        self.interpolation = InterpolationMode(interpolation)
        self.expand = expand
        self.center = _check_center(center, "RandomRotation")
        self.fill = fill

    @staticmethod
    def get_params(degrees):
        return float(fetch_rng().uniform(degrees[0], degrees[1]))

    def forward(self, img):
        angle = self.get_params(self.degrees)
        return F.rotate(img, angle, self.interpolation, self.expand, self.center, self.fill)

    def extra_repr(self):
        return (f"degrees={self.degrees}, interpolation={self.interpolation.value}, "
                f"expand={self.expand}, fill={self.fill}")


class RandomAffine(Transform):
    """A random affine map keeping the centre: rotation uniform in ``degrees``, translation
    by up to ``translate = (a, b)`` of the width / height (rounded to whole pixels), scale
    uniform in ``scale = (lo, hi)``, shear uniform in ``shear`` (a number ``s`` for x shear in
    ``[-s, s]``, 2 values for an x range, 4 for x and y ranges). See ``F.affine``.
    """

    def __init__(self, degrees, translate=None, scale=None, shear=None,
                 interpolation=InterpolationMode.NEAREST, fill=0, center=None):
        self.degrees = _setup_angle(degrees, "degrees")
        if translate is not None:
            if not isinstance(translate, (list, tuple)) or len(translate) != 2:
                raise ValueError(f"RandomAffine: translate should be a sequence of length 2, got "
                                 f"{translate!r}")
            if not all(0.0 <= t <= 1.0 for t in translate):
                raise ValueError(f"RandomAffine: translation values should be between 0 and 1, "
                                 f"got {translate}")
        if scale is not None:
            if not isinstance(scale, (list, tuple)) or len(scale) != 2:
                raise ValueError(f"RandomAffine: scale should be a sequence of length 2, got "
                                 f"{scale!r}")
            if not all(s > 0 for s in scale):
                raise ValueError(f"RandomAffine: scale values should be positive, got {scale}")
        self.translate = translate
        self.scale = scale
        self.shear = None if shear is None else _setup_angle(shear, "shear", (2, 4))
        self.interpolation = InterpolationMode(interpolation)
        self.fill = fill
        self.center = _check_center(center, "RandomAffine")

    @staticmethod
    def get_params(degrees, translate, scale_ranges, shears, img_size):
        """``(angle, (tx, ty), scale, (shear_x, shear_y))``; ``img_size`` is ``[width, height]``."""
        rng = fetch_rng()
        angle = float(rng.uniform(degrees[0], degrees[1]))
        if translate is not None:
            max_dx = float(translate[0] * img_size[0])
            max_dy = float(translate[1] * img_size[1])
            translations = (int(round(rng.uniform(-max_dx, max_dx))),
                            int(round(rng.uniform(-max_dy, max_dy))))
        else:
            translations = (0, 0)
        scale = 1.0 if scale_ranges is None else float(rng.uniform(scale_ranges[0], scale_ranges[1]))
        shear_x = shear_y = 0.0
        if shears is not None:
            shear_x = float(rng.uniform(shears[0], shears[1]))
            if len(shears) == 4:
                shear_y = float(rng.uniform(shears[2], shears[3]))
        return angle, translations, scale, (shear_x, shear_y)

    def forward(self, img):
        params = self.get_params(self.degrees, self.translate, self.scale, self.shear,
                                 F.get_image_size(img))
        return F.affine(img, *params, interpolation=self.interpolation, fill=self.fill,
                        center=self.center)

    def extra_repr(self):
        return (f"degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
                f"shear={self.shear}, interpolation={self.interpolation.value}, fill={self.fill}")


class ColorJitter(Transform):
    """Random brightness, contrast, saturation and hue changes, applied in a random order.

    ``brightness``, ``contrast``, ``saturation``: a number ``v >= 0`` draws the factor uniformly
    from ``[max(0, 1 - v), 1 + v]``, a pair ``(lo, hi)`` from that range. ``hue``: a number
    ``0 <= v <= 0.5`` draws from ``[-v, v]``, a pair from that range within [-0.5, 0.5].
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        self.brightness = self._check_input(brightness, "brightness")
        self.contrast = self._check_input(contrast, "contrast")
        self.saturation = self._check_input(saturation, "saturation")
        self.hue = self._check_input(hue, "hue", center=0, bound=(-0.5, 0.5),
                                     clip_first_on_zero=False)

    @staticmethod
    def _check_input(value, name, center=1, bound=(0, float("inf")), clip_first_on_zero=True):
        if isinstance(value, numbers.Number):
            if value < 0:
                raise ValueError(f"If {name} is a single number, it must be non negative, got "
                                 f"{value}.")
            value = [center - float(value), center + float(value)]
            if clip_first_on_zero:
                value[0] = max(value[0], 0.0)
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            value = [float(value[0]), float(value[1])]
        else:
            raise TypeError(f"{name} should be a single number or a list/tuple with length 2.")
        if not bound[0] <= value[0] <= value[1] <= bound[1]:
            raise ValueError(f"{name} values should be between {bound}, but got {value}.")
        if value[0] == value[1] == center:
            return None
        return tuple(value)

    @staticmethod
    def get_params(brightness, contrast, saturation, hue):
        """``(order, b, c, s, h)``: a permutation of the four adjustments and their factors
        (None for an adjustment that is off)."""
        rng = fetch_rng()
        order = rng.permutation(4).tolist()
        factors = [None if r is None else float(rng.uniform(r[0], r[1]))
                   for r in (brightness, contrast, saturation, hue)]
        return (order, *factors)

    def forward(self, img):
        order, *factors = self.get_params(self.brightness, self.contrast, self.saturation,
                                          self.hue)
        adjust = (F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue)
        for k in order:
            if factors[k] is not None:
                img = adjust[k](img, factors[k])
        return img

    def extra_repr(self):
        return (f"brightness={self.brightness}, contrast={self.contrast}, "
                f"saturation={self.saturation}, hue={self.hue}")


def _random_box(rng, area, scale, ratio):
    """``(long_side_along_ratio, other)`` = ``(sqrt(a * r), sqrt(a / r))`` for an area drawn
    uniformly in ``scale * area`` and an aspect ratio ``r`` log-uniform in ``ratio``."""
    target_area = area * rng.uniform(scale[0], scale[1])
    aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
    return (int(round(math.sqrt(target_area * aspect))),
            int(round(math.sqrt(target_area / aspect))))


def _check_range(value, name, owner):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{owner}: {name} should be a sequence of length 2, got {value!r}")
    if value[0] > value[1]:
        warnings.warn(f"{owner}: {name} should be of kind (min, max), got {value}")
    return tuple(value)


class RandomResizedCrop(Transform):
    """Crop a random region, then resize it to ``size`` (the Inception-style augmentation).

    The region covers a fraction of the area uniform in ``scale`` with aspect ratio
    ``w / h`` log-uniform in ``ratio``; after 10 failed tries to fit it in the image, the
    central crop with the closest allowed aspect ratio is used (torchvision's rule).
    """

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation=InterpolationMode.BILINEAR, antialias=True):
        self.size = _pair(size, "RandomResizedCrop")
        self.scale = _check_range(scale, "scale", "RandomResizedCrop")
        self.ratio = _check_range(ratio, "ratio", "RandomResizedCrop")
        self.interpolation = InterpolationMode(interpolation)
        self.antialias = antialias

    @staticmethod
    def get_params(img, scale, ratio):
        """``(top, left, h, w)`` of the random region."""
        _, height, width = F.get_dimensions(img)
        rng = fetch_rng()
        for _ in range(10):
            w, h = _random_box(rng, height * width, scale, ratio)
            if 0 < w <= width and 0 < h <= height:
                top = int(rng.integers(0, height - h + 1))
                left = int(rng.integers(0, width - w + 1))
                return top, left, h, w
        in_ratio = float(width) / float(height)
        if in_ratio < min(ratio):
            w, h = width, int(round(width / min(ratio)))
        elif in_ratio > max(ratio):
            h, w = height, int(round(height * max(ratio)))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def forward(self, img):
        top, left, h, w = self.get_params(img, self.scale, self.ratio)
        return F.resized_crop(img, top, left, h, w, self.size, self.interpolation, self.antialias)

    def extra_repr(self):
        return (f"size={self.size}, scale={self.scale}, ratio={self.ratio}, "
                f"interpolation={self.interpolation.value}, antialias={self.antialias}")


class Grayscale(Transform):
    """Convert to grey (``num_output_channels`` 1, or 3 identical channels)."""

    def __init__(self, num_output_channels=1):
        if num_output_channels not in (1, 3):
            raise ValueError(f"Grayscale: num_output_channels should be either 1 or 3, got "
                             f"{num_output_channels}")
        self.num_output_channels = num_output_channels

    def forward(self, img):
        return F.rgb_to_grayscale(img, self.num_output_channels)

    def extra_repr(self):
        return f"num_output_channels={self.num_output_channels}"


class Lambda(Transform):
    """Wrap a user function ``lambd(img)`` as a transform."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def forward(self, img):
        return self.lambd(img)


class RandomErasing(Transform):
    """With probability ``p``, overwrite a random rectangle of a Tensor (or array) image.

    The rectangle covers a fraction of the area uniform in ``scale``, with aspect ratio
    ``h / w`` log-uniform in ``ratio``; ``value`` is a number, one value per channel, or
    ``"random"`` (standard normal noise per pixel). If 10 tries do not fit the rectangle
    inside the image, the image is returned unchanged.
    """

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace=False):
        if not isinstance(value, (numbers.Number, str, tuple, list)):
            raise TypeError("RandomErasing: argument value should be either a number or str or "
                            "a sequence")
        if isinstance(value, str) and value != "random":
            raise ValueError(f"RandomErasing: if value is str, it should be 'random', got {value!r}")
        self.scale = _check_range(scale, "scale", "RandomErasing")
        self.ratio = _check_range(ratio, "ratio", "RandomErasing")
        if scale[0] < 0 or scale[1] > 1:
            raise ValueError(f"RandomErasing: scale should be between 0 and 1, got {scale}")
        self.p = _check_probability(p, "RandomErasing")
        self.value = value
        self.inplace = inplace

    @staticmethod
    def get_params(img, scale, ratio, value=None):
        """``(top, left, h, w, v)``, or None if no rectangle fitted; ``value=None`` means
        random normal values."""
        channels, height, width = F.get_dimensions(img)
        rng = fetch_rng()
        for _ in range(10):
            h, w = _random_box(rng, height * width, scale, ratio)
            if not (h < height and w < width):
                continue
            if value is None:
                v = rng.standard_normal((channels, h, w)).astype("float32")
            else:
                v = [[[float(x)]] for x in value]
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w, v
        return None

    def forward(self, img):
        if fetch_rng().random() >= self.p:
            return img
        channels = F.get_image_num_channels(img)
        if isinstance(self.value, str):
            value = None
        elif isinstance(self.value, numbers.Number):
            value = [float(self.value)]
        else:
            value = [float(v) for v in self.value]
        if value is not None and len(value) not in (1, channels):
            raise ValueError(f"RandomErasing: if value is a sequence, it should have either a "
                             f"single value or {channels} (number of input channels), got "
                             f"{len(value)}")
        params = self.get_params(img, self.scale, self.ratio, value)
        if params is None:
            return img
        return F.erase(img, *params, inplace=self.inplace)

    def extra_repr(self):
        return (f"p={self.p}, scale={self.scale}, ratio={self.ratio}, value={self.value}, "
                f"inplace={self.inplace}")


class RandomApply(Transform):
    """Apply the list of ``transforms`` with probability ``p`` (all or none)."""

    def __init__(self, transforms, p=0.5):
        self.transforms = list(transforms)
        self.p = _check_probability(p, "RandomApply")

    def forward(self, img):
        if self.p < fetch_rng().random():
            return img
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        inner = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}(\n    p={self.p}{inner}\n)"
