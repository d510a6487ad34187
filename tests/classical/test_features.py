"""ember.classical.features: HOG against scikit-image and a plain per-pixel reference, the
HOG pyramid, template responses and the sliding-window count (inventory F7, F8)."""
import numpy as np
import pytest

from ember.classical import features, pyramids

skimage_feature = pytest.importorskip("skimage.feature")

EPS32 = np.finfo(np.float32).eps


def assert_hog_close(ours, theirs, pixels_per_cell):
    """scikit-image sums each cell in single precision: every cell total carries a relative
    rounding of at most (pixels per cell) float32 epsilons, which block normalisation keeps
    relative (twice, for the two normalisations of 'L2-Hys')."""
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    bound = 4 * pixels_per_cell[0] * pixels_per_cell[1] * EPS32
    np.testing.assert_allclose(ours, theirs, rtol=bound, atol=bound * np.abs(theirs).max())


HOG_CASES = [
    dict(),
    dict(orientations=7, pixels_per_cell=(6, 4), cells_per_block=(2, 3), block_norm="L1"),
    dict(block_norm="L1-sqrt", transform_sqrt=True),
    dict(orientations=12, block_norm="L2", pixels_per_cell=(4, 4), cells_per_block=(1, 1)),
    dict(pixels_per_cell=(8, 6), cells_per_block=(2, 2), feature_vector=False),
]


@pytest.mark.parametrize("kwargs", HOG_CASES)
def test_hog_equals_scikit_image(kwargs):
    image = np.random.default_rng(0).random((67, 59))
    assert_hog_close(features.hog(image, **kwargs), skimage_feature.hog(image, **kwargs),
                     kwargs.get("pixels_per_cell", (8, 8)))


def test_hog_equals_scikit_image_on_colour_photograph_and_integer_images():
    data = pytest.importorskip("skimage.data")
    photo = data.astronaut()[::2, ::2]                          # uint8, 256 x 256 x 3
    assert_hog_close(features.hog(photo, channel_axis=-1),
                     skimage_feature.hog(photo, channel_axis=-1), (8, 8))
    camera = data.camera()[:128, :160]
    assert_hog_close(features.hog(camera, orientations=8, pixels_per_cell=(4, 4)),
                     skimage_feature.hog(camera, orientations=8, pixels_per_cell=(4, 4)),
                     (4, 4))
    rgb32 = np.random.default_rng(1).random((3, 40, 48)).astype(np.float32)
    assert_hog_close(features.hog(rgb32, channel_axis=0),
                     skimage_feature.hog(rgb32, channel_axis=0), (8, 8))


@pytest.mark.parametrize("orientations", [7, 8, 9])
def test_hog_bins_on_orientations_exactly_at_bin_edges(orientations):
    """Small integer images have many gradients at exactly 0, 45, 90, 135 degrees (and with
    7 bins near the single-precision bin edges): every pixel lands in scikit-image's bin."""
    image = np.random.default_rng(2).integers(0, 3, (64, 64)).astype(float)
    assert_hog_close(features.hog(image, orientations=orientations),
                     skimage_feature.hog(image, orientations=orientations), (8, 8))


def reference_cells(image, orientations, cell):
    """The HOG cell histogram by the definition, one pixel at a time."""
    rows, cols = image.shape[0] // cell[0], image.shape[1] // cell[1]
    histogram = np.zeros((rows, cols, orientations))
    for r in range(rows * cell[0]):
        for c in range(cols * cell[1]):
            g_row = image[r + 1, c] - image[r - 1, c] if 0 < r < image.shape[0] - 1 else 0.0
            g_col = image[r, c + 1] - image[r, c - 1] if 0 < c < image.shape[1] - 1 else 0.0
            theta = np.degrees(np.arctan2(g_row, g_col)) % 180
            edges = [np.float32(180.0 / orientations * k) for k in range(orientations + 1)]
            for k in range(orientations):
                if edges[k] <= theta < edges[k + 1]:
                    histogram[r // cell[0], c // cell[1], k] += np.hypot(g_row, g_col)
    return histogram


@pytest.mark.parametrize("cell", [(5, 5), (3, 7), (4, 6)])
def test_hog_cells_follow_the_definition_for_every_cell_size(cell):
    """Odd cell sizes too, where scikit-image leaves out each cell's last row and column."""
    image = np.random.default_rng(3).random((23, 29))
    np.testing.assert_allclose(features.hog_cells(image, 9, cell),
                               reference_cells(image, 9, cell), rtol=1e-12, atol=1e-12)


def test_hog_blocks_normalise_every_block_alone():
    cells = np.random.default_rng(4).random((5, 6, 9))
    blocks = features.hog_blocks(cells, (2, 3), "L2")
    assert blocks.shape == (4, 4, 2, 3, 9)
    block = cells[1:3, 2:5]
    np.testing.assert_allclose(blocks[1, 2], block / np.sqrt((block ** 2).sum() + 1e-10),
                               rtol=1e-12)
    cells[0, 0, 0] = 50.0                     # one dominant bin: clipped at 0.2 by 'L2-Hys'
    block = cells[0:2, 0:2]
    clipped = np.minimum(block / np.sqrt((block ** 2).sum() + 1e-10), 0.2)
    np.testing.assert_allclose(features.hog_blocks(cells, (2, 2), "L2-Hys")[0, 0],
                               clipped / np.sqrt((clipped ** 2).sum() + 1e-10), rtol=1e-12)
    l1 = features.hog_blocks(cells, (2, 2), "L1")[0, 0]
    np.testing.assert_allclose(l1, block / (block.sum() + 1e-5), rtol=1e-12)
    np.testing.assert_allclose(features.hog_blocks(cells, (2, 2), "L1-sqrt")[0, 0],
                               np.sqrt(l1), rtol=1e-12)


def test_one_number_stands_for_both_axes():
    image = np.random.default_rng(7).random((40, 40))
    np.testing.assert_array_equal(features.hog(image, pixels_per_cell=8, cells_per_block=2),
                                  features.hog(image, pixels_per_cell=(8, 8),
                                               cells_per_block=(2, 2)))


def test_hog_of_a_too_small_image_and_bad_arguments():
    with pytest.raises(ValueError, match=r"hog: the image \(20, 30\) is too small for blocks of "
                                         r"3x3 cells of 8x8 pixels: it needs at least 24 rows"):
        features.hog(np.zeros((20, 30)))
    with pytest.raises(ValueError, match="hog_blocks: block_norm must be one of"):
        features.hog(np.zeros((32, 32)), block_norm="L3")
    with pytest.raises(ValueError, match="hog: expected a 2-D image"):
        features.hog(np.zeros((32, 32, 3)))
    with pytest.raises(ValueError, match=r"hog_cells: pixels_per_cell must be >= 1, got \(0, 8\)"):
        features.hog(np.zeros((32, 32)), pixels_per_cell=(0, 8))
    with pytest.raises(ValueError, match="sliding_windows: step must be a number or a pair"):
        features.sliding_windows((10, 10), (3, 3), step=(1, 2, 3))


def test_hog_pyramid_levels_are_the_hog_of_each_pyramid_level():
    image = np.random.default_rng(5).random((64, 80))
    levels = features.hog_pyramid(image, downscale=2 ** 0.5, pixels_per_cell=(8, 8),
                                  cells_per_block=(2, 2))
    gaussians = pyramids.gaussian_pyramid(image, downscale=2 ** 0.5)
    assert len(levels) >= 3
    for (scale, blocks), level in zip(levels, gaussians):
        assert scale == (64 / level.shape[0], 80 / level.shape[1])
        np.testing.assert_allclose(blocks, features.hog(level, pixels_per_cell=(8, 8),
                                                        cells_per_block=(2, 2),
                                                        feature_vector=False), rtol=1e-12)
    smallest = gaussians[len(levels) - 1].shape
    assert min(smallest) >= 16
    assert len(levels) == len(gaussians) or min(gaussians[len(levels)].shape) < 16


def test_template_response_is_the_score_of_every_window():
    """003 「使用HOG进行行人检测」: correlating the template over the HOG map gives every
    window's linear score, which equals the score of that window's HOG feature vector."""
    rng = np.random.default_rng(6)
    image = rng.random((48, 64))
    blocks = features.hog(image, pixels_per_cell=(4, 4), cells_per_block=(2, 2),
                          feature_vector=False)
    template = rng.standard_normal((5, 6) + blocks.shape[2:])
    response = features.template_response(blocks, template, bias=-0.5)
    assert response.shape == (blocks.shape[0] - 4, blocks.shape[1] - 5)
    for i, j in [(0, 0), (3, 7), (response.shape[0] - 1, response.shape[1] - 1)]:
        window = blocks[i:i + 5, j:j + 6]
        assert response[i, j] == pytest.approx(window.ravel() @ template.ravel() - 0.5,
                                               rel=1e-12)
    with pytest.raises(ValueError, match="template_response: template"):
        features.template_response(blocks, template[..., :3])


def test_sliding_window_count_is_exact_where_the_slide_drops_the_plus_one():
    """F8 (003 「一共有多少窗口?」): (H - h + 1)(W - w + 1) windows; ⚠ the slide's
    (H - by)(W - bx) is short by (H - by) + (W - bx) + 1."""
    height, width, by, bx = 600, 800, 128, 64
    count = features.sliding_window_count((height, width), (by, bx))
    assert count == (height - by + 1) * (width - bx + 1) == 348_601
    assert count - (height - by) * (width - bx) == (height - by) + (width - bx) + 1
    assert features.sliding_window_count((5, 7), (5, 7)) == 1       # the slide says 0
    assert features.sliding_window_count((5, 7), (6, 7)) == 0
    assert features.sliding_window_count((10, 10), (3, 3), step=2) == 16
    assert features.sliding_window_count((10, 11), (3, 3), step=(3, 4)) == 3 * 3


@pytest.mark.parametrize("image_shape,window,step", [((6, 9), (2, 3), 1), ((10, 11), (3, 4), 2),
                                                     ((4, 4), (4, 4), 1), ((12, 7), (5, 2), (3, 2))])
def test_sliding_windows_enumerates_every_position_once(image_shape, window, step):
    boxes = features.sliding_windows(image_shape, window, step)
    steps = (step, step) if np.ndim(step) == 0 else step
    expected = [(x, y, x + window[1], y + window[0])
                for y in range(0, image_shape[0] - window[0] + 1, steps[0])
                for x in range(0, image_shape[1] - window[1] + 1, steps[1])]
    assert boxes.tolist() == [list(b) for b in expected]
    assert len(boxes) == features.sliding_window_count(image_shape, window, step)


def test_multiscale_window_shapes_and_total_count():
    """Scales (by*s, bx*s) and aspect ratios (by*sy, bx*sx) of the template size (003)."""
    shapes = features.window_shapes((32, 16), scales=(1, 1.5, 2), aspect_ratios=((1, 1), (1, 2)))
    assert shapes == [(32, 16), (32, 32), (48, 24), (48, 48), (64, 32), (64, 64)]
    total = sum(features.sliding_window_count((100, 120), s) for s in shapes)
    assert total == sum((100 - h + 1) * (120 - w + 1) for h, w in shapes)
