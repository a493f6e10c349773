"""data.masks: bitmask PNGs with overlapping classes, and plain binary masks of one class."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from data.masks import (
    decode_mask,
    defect_classes,
    encode_bitmask,
    load_mask,
    pack_bits,
    shrink_bitmask,
    unpack_bits,
)


def test_bitmask_round_trip_with_overlapping_classes(tmp_path):
    classes = defect_classes()
    assert classes == ("scratch", "scuff", "stain", "tear", "tarnish")
    channels = np.zeros((len(classes), 30, 40), dtype=bool)
    channels[0, 5:15, 5:25] = True  # scratch
    channels[2, 10:20, 20:35] = True  # stain, overlapping the scratch
    channels[4] = True  # tarnish everywhere
    image = encode_bitmask(channels)
    assert image.mode == "L" and image.size == (40, 30)
    assert image.getpixel((22, 12)) == 0b10101  # scratch + stain + tarnish
    image.save(tmp_path / "mask.png")
    decoded = load_mask(tmp_path / "mask.png")
    assert decoded.dtype == bool and decoded.shape == channels.shape
    np.testing.assert_array_equal(decoded, channels)


def test_empty_bitmask():
    decoded = decode_mask(encode_bitmask(np.zeros((5, 8, 8), dtype=bool)))
    assert not decoded.any()


def test_encode_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        encode_bitmask(np.zeros((9, 4, 4), dtype=bool))
    with pytest.raises(ValueError, match="shape"):
        encode_bitmask(np.zeros((4, 4), dtype=bool))


def test_binary_mask_of_one_class(tmp_path):
    values = np.zeros((20, 30), dtype=np.uint8)
    values[2:6, 3:9] = 255
    values[10, 10] = 1  # any non-zero value counts
    Image.fromarray(values).save(tmp_path / "mvtec_mask.png")
    decoded = load_mask(tmp_path / "mvtec_mask.png", mask_class="stain")
    stain = defect_classes().index("stain")
    np.testing.assert_array_equal(decoded[stain], values > 0)
    assert not np.delete(decoded, stain, axis=0).any()
    # read as a bitmask instead, 255 would have set every class: the mask_class matters
    assert decode_mask(Image.fromarray(values))[:, 3, 4].all()


def test_rgb_binary_mask_is_accepted():
    image = Image.new("RGB", (10, 10), (0, 0, 0))
    image.putpixel((3, 4), (255, 255, 255))
    decoded = decode_mask(image, mask_class="tear")
    assert decoded[defect_classes().index("tear")].sum() == 1


def test_unknown_mask_class():
    image = Image.new("L", (10, 10), 255)
    with pytest.raises(ValueError, match="'dent' is not a defect class"):
        decode_mask(image, mask_class="dent")


def test_shrinking_a_mask_keeps_every_thin_defect_in_the_cells_it_crosses():
    channels = np.zeros((5, 256, 256), dtype=bool)
    channels[0, 100, 10:250] = True  # a one-pixel scratch, horizontal
    channels[3, 30:200, 77] = True  # a one-pixel tear, vertical
    channels[2, 200:210, 200:210] = True  # a small stain
    small = unpack_bits(shrink_bitmask(pack_bits(channels), (56, 56)), 5)
    assert small.shape == (5, 56, 56)
    row = int(100 * 56 / 256)
    assert small[0, row - 1 : row + 2].any(axis=0)[3:54].all()  # unbroken, where a sample would dot it
    assert small[3].any(axis=1)[8:43].all()
    assert small[2].sum() >= 4 and not small[1].any() and not small[4].any()
    nearest = unpack_bits(np.asarray(Image.fromarray(pack_bits(channels)).resize((56, 56), Image.NEAREST)), 5)
    assert nearest[0].sum() < small[0].sum()


def test_masks_open_through_safe_decoding(tmp_path):
    """A mask is decoded like a photo (format sniffed, limits checked before pixels), PNG only."""
    from data.decode import DecodeLimits, ImageDecodeError, decode_mask_image

    disguised = tmp_path / "mask.png"
    Image.new("L", (40, 30)).save(disguised, "JPEG")  # a JPEG named .png
    with pytest.raises(ImageDecodeError, match="not a PNG image"):
        load_mask(disguised)
    huge = tmp_path / "huge.png"
    Image.new("L", (1500, 1000)).save(huge)
    with pytest.raises(ImageDecodeError, match="over the 1 MP limit"):
        decode_mask_image(huge, limits=DecodeLimits(max_pixels=1_000_000, min_side=1))
