"""Miniature trees in the real layouts of the public datasets secondlook imports (tests only)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def image(path: Path, color: tuple[int, int, int] = (120, 80, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}[path.suffix.lower()]
    Image.new("RGB", (32, 32), color).save(path, format=fmt)
    return path


def mask(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.zeros((32, 32), dtype=np.uint8)
    values[4:12, 4:12] = 255
    Image.fromarray(values, mode="L").save(path)
    return path


def table_tree(tmp_path: Path) -> Path:
    folder = tmp_path / "shop"
    image(folder / "photos" / "1.jpg")
    image(folder / "photos" / "2.jpg")
    image(folder / "photos" / "3.jpg")
    table = pd.DataFrame(
        {
            "file": ["photos/1.jpg", "photos/2.jpg", "photos/3.jpg", "photos/gone.jpg"],
            "sku": ["A17", "A17", None, "B2"],
            "bag_type": ["tote", "tote", "wallet", "clutch"],
            "grade": ["B", None, "A", "C"],
            "notes": ["x", "y", "z", "w"],
        }
    )
    table.to_csv(folder / "items.csv", index=False)
    return folder / "items.csv"


def mvtec_tree(root: Path) -> Path:
    leather = root / "leather"
    for i in range(4):
        image(leather / "train" / "good" / f"{i:03d}.png")
    image(leather / "test" / "good" / "000.png")
    image(leather / "test" / "color" / "000.png")
    mask(leather / "ground_truth" / "color" / "000_mask.png")
    image(leather / "test" / "fold" / "000.png")
    mask(leather / "ground_truth" / "fold" / "000_mask.png")
    nut = root / "metal_nut"
    image(nut / "train" / "good" / "000.png")
    image(nut / "test" / "color" / "000.png")
    mask(nut / "ground_truth" / "color" / "000_mask.png")
    image(nut / "test" / "flip" / "000.png")  # no taxonomy class means "flipped"
    mask(nut / "ground_truth" / "flip" / "000_mask.png")
    (root / "license.txt").write_text("CC BY-NC-SA 4.0")
    return root


def gz_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def abo_tree(root: Path) -> Path:
    def listing(item_id, product_type, main, others=()):
        return json.dumps(
            {
                "item_id": item_id,
                "main_image_id": main,
                "other_image_id": list(others),
                "product_type": [{"value": product_type}],
                "item_name": [
                    {"language_tag": "de_DE", "value": f"{item_id} Geldbörse"},
                    {"language_tag": "en_US", "value": f"{item_id} wallet"},
                ],
                "brand": [{"language_tag": "en_US", "value": "Stone & Beam"}],
            }
        )

    gz_lines(
        root / "listings" / "metadata" / "listings_0.json.gz",
        [
            listing("B01W", "WALLET", "img1", ["img2", "img3"]),  # img3 not on disk
            listing("B02H", "HANDBAG", "img4"),
        ],
    )
    gz_lines(
        root / "listings" / "metadata" / "listings_1.json.gz",
        [listing("B03W", "WALLET", "img5", ["img-unknown"])],  # img-unknown not in images.csv.gz
    )
    paths = {"img1": "aa/img1.jpg", "img2": "bb/img2.jpg", "img3": "cc/img3.jpg", "img4": "dd/img4.jpg"}
    paths["img5"] = "ee/img5.jpg"
    gz_lines(
        root / "images" / "metadata" / "images.csv.gz",
        ["image_id,height,width,path", *(f"{k},32,32,{v}" for k, v in paths.items())],
    )
    for image_id, relative in paths.items():
        if image_id != "img3":
            image(root / "images" / "small" / relative)
    return root


STYLES = """id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName
15970,Women,Accessories,Wallets,Wallets,Brown,Fall,2011,Casual,Baggit Women Brown Wallet
39386,Women,Accessories,Bags,Clutches,Red,Summer,2012,Party,Lino Perros Women, Red, Clutch, with Chain
59263,Women,Accessories,Bags,Handbags,Black,Winter,2016,Casual,Murcia Women Black Handbag
21379,Men,Accessories,Wallets,Wallets,Black,Fall,2011,Casual,Fastrack Men Black Wallet
53759,Men,Apparel,Topwear,Tshirts,Grey,Summer,2012,Casual,Puma Men Grey T-shirt
"""


def fashion_tree(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "styles.csv").write_text(STYLES.replace("\n", "\r\n"), encoding="utf-8")
    for product_id in ("15970", "39386", "59263", "53759"):  # 21379 has no image
        image(root / "images" / f"{product_id}.jpg")
    return root
