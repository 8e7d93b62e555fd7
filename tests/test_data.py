import json

import numpy as np
import pytest
from PIL import Image

from training.data_errors import DataError
from training.data import load_dataset, split

from .conftest import FLICKR, need_flickr


@pytest.fixture
def image_dir(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(3):
        Image.new("RGB", (64, 48), (40 * i, 90, 200)).save(d / f"im{i}.jpg")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return d


def test_flickr_csv_reports_missing_unreadable_and_empty(tmp_path, image_dir):
    csv = tmp_path / "captions.csv"
    csv.write_text("image,caption\nim0.jpg,A dog.\nim0.jpg,\nim1.jpg,A cat sits.\nnope.jpg,gone\nbroken.jpg,bad\n")
    samples, report = load_dataset(csv, image_dir)
    assert [s.image.name for s in samples] == ["im0.jpg", "im1.jpg"]
    assert report.empty_captions == 1
    assert any("nope.jpg" in m for m in report.missing_images)
    assert any("broken.jpg" in m for m in report.unreadable_images)
    assert "missing" in report.summary() and "unreadable" in report.summary()


def test_token_txt_karpathy_and_coco_formats(tmp_path, image_dir):
    tok = tmp_path / "Flickr8k.token.txt"
    tok.write_text("im0.jpg#0\tA dog runs .\nim0.jpg#1\tA brown dog .\nim1.jpg#0\tA cat .\n")
    s, _ = load_dataset(tok, image_dir)
    assert [len(x.captions) for x in s] == [2, 1]

    kar = tmp_path / "dataset_flickr8k.json"
    kar.write_text(
        json.dumps(
            {
                "images": [
                    {
                        "filename": "im2.jpg",
                        "split": "train",
                        "sentences": [{"raw": "A blue thing."}, {"tokens": ["a", "thing"]}],
                    }
                ]
            }
        )
    )
    s, _ = load_dataset(kar, image_dir)
    assert s[0].captions == ("A blue thing.", "a thing")

    coco = tmp_path / "captions_val2014.json"
    coco.write_text(
        json.dumps(
            {
                "images": [{"id": 7, "file_name": "im1.jpg"}, {"id": 8, "file_name": "im2.jpg"}],
                "annotations": [
                    {"image_id": 7, "caption": "x y"},
                    {"image_id": 8, "caption": "z"},
                    {"image_id": 7, "caption": "w"},
                ],
            }
        )
    )
    s, _ = load_dataset(coco, image_dir)
    assert {x.image.name: len(x.captions) for x in s} == {"im1.jpg": 2, "im2.jpg": 1}


def test_unknown_format_and_empty_dataset_are_clear_errors(tmp_path, image_dir):
    (tmp_path / "x.yaml").write_text("a: b")
    with pytest.raises(DataError, match="unknown caption format"):
        load_dataset(tmp_path / "x.yaml")
    (tmp_path / "c.csv").write_text("image,caption\nnope.jpg,hi\n")
    with pytest.raises(DataError, match="no usable"):
        load_dataset(tmp_path / "c.csv", image_dir)
    (tmp_path / "d.csv").write_text("file,text\n")
    with pytest.raises(DataError, match="image,caption"):
        load_dataset(tmp_path / "d.csv", image_dir)


def test_split_is_seeded_and_disjoint(scenes):
    samples, _ = load_dataset(scenes)
    a_tr, a_va = split(samples, 0.2, seed=1)
    b_tr, b_va = split(list(reversed(samples)), 0.2, seed=1)
    assert [s.image for s in a_va] == [s.image for s in b_va]
    assert not {s.image for s in a_tr} & {s.image for s in a_va}
    assert len(a_va) == 12


def test_real_flickr8k_loads_739_images_with_5_captions():
    need_flickr()
    samples, report = load_dataset(FLICKR / "captions.csv", verify=False)
    assert report.images == 739 and report.captions == 3695


def test_official_splits_beside_the_captions_give_train_plus_none_and_dev():
    from training.data import find_splits, split_by_lists

    d = FLICKR.parent / "flickr8k-224"
    if not (d / "splits").is_dir():
        pytest.skip(f"{d} (the 7,091-photo Flickr8k set) is not here")
    samples, _ = load_dataset(d / "captions.csv", verify=False)
    splits = find_splits(d / "captions.csv")
    tr, va = split_by_lists(samples, splits["train"], splits["val"])
    assert (len(tr), len(va)) == (6091, 1000) and not {s.image for s in tr} & {s.image for s in va}


def test_a_split_naming_an_image_twice_or_no_data_is_refused(scenes, tmp_path):
    from training.data import split_by_lists

    samples, _ = load_dataset(scenes)
    names = [s.image.name for s in samples]
    (tmp_path / "a.txt").write_text("\n".join(names[:10]))
    (tmp_path / "b.txt").write_text("\n".join(names[9:20]))
    with pytest.raises(DataError, match="both the train and the val split"):
        split_by_lists(samples, [tmp_path / "a.txt"], [tmp_path / "b.txt"])
    (tmp_path / "c.txt").write_text("nothing.jpg\n")
    with pytest.raises(DataError, match="must name the data's image files"):
        split_by_lists(samples, [tmp_path / "a.txt"], [tmp_path / "c.txt"])


@pytest.mark.parametrize("geometry", ["squash", "center-crop"])
def test_training_and_device_give_the_pixels_of_the_geometry(tmp_path, geometry):
    """A 4:3 camera-like photo, prepared by training's feature loader and by the device's frame path,
    equals the geometry written out by hand: squash resizes the whole frame, center-crop its middle."""
    from PIL import Image
    from training.features import load_pixels
    from device.preprocess import to_model_input

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    f = tmp_path / "photo.png"
    Image.fromarray(frame).save(f)
    box = (0, 0, 160, 120) if geometry == "squash" else (20, 0, 140, 120)
    want = np.asarray(Image.fromarray(frame).crop(box).resize((64, 64), Image.BILINEAR))
    px, ok = load_pixels([f], 64, geometry)
    assert ok.all() and np.array_equal(px[0], want)
    assert np.array_equal(to_model_input(frame, 64, geometry), want)
    other = "center-crop" if geometry == "squash" else "squash"
    assert not np.array_equal(to_model_input(frame, 64, other), want)
