"""Face banks: fixed frames of one identity, uint8 on the device, exact labels and masks, held-out frames
from a disjoint stream, a disk cache that never trusts a damaged file."""

import pytest
import torch

from phazelab.data import FaceWorld, make_source
from phazelab.data.bank import DEFAULT_BANK_SIZE, SYNTHETIC_AUGMENT, FaceBank, stream_seed


@pytest.fixture(scope="module")
def world():
    return FaceWorld(seed=0)


def test_bank_is_deterministic_uint8_and_serves_its_own_frames(world):
    bank = FaceBank(world, 2, n=24, seed=5)
    again = FaceBank(world, 2, n=24, seed=5)
    other = FaceBank(world, 2, n=24, seed=6)
    frames = bank.frames(32)
    assert frames.dtype == torch.uint8 and frames.shape == (24, 4, 32, 32)
    assert torch.equal(frames, again.frames(32)) and not torch.equal(frames, other.frames(32))
    # the frames are the exact renders of their labels' factors
    assert (bank.images(32) - world.render(2, bank.labels.factors, 32)).abs().max() <= 0.5 / 255 + 1e-6
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    x = bank.batch(7, g1, 32)
    images, labels = bank.batch_with_labels(7, g2, 32)
    assert x.dtype == torch.float32 and x.shape == (7, 3, 32, 32) and torch.equal(x, images)
    assert (images - world.render(2, labels.factors, 32)).abs().max() <= 0.5 / 255 + 1e-6
    faces, masks = bank.batch_with_masks(7, torch.Generator().manual_seed(3), 32)
    assert torch.equal(faces, x) and masks.shape == (7, 1, 32, 32)
    assert (masks - world.face_mask(2, labels.factors, 32)).abs().max() <= 0.5 / 255 + 1e-6
    assert len(bank) == 24 and bank.name == "synthetic:2:24" and bank.default_augment == SYNTHETIC_AUGMENT
    assert FaceBank(world, 2).name == "synthetic:2"  # the default size: the plain spec


def test_world_source_is_a_bank_and_stream_renders(world):
    src = world.source(1)
    assert isinstance(src, FaceBank) and len(src) == DEFAULT_BANK_SIZE
    small = make_source("synthetic:1:16", world)
    assert isinstance(small, FaceBank) and len(small) == 16
    assert len(world.stream(1)) > 10**6
    with pytest.raises(ValueError, match="synthetic:3:512"):
        make_source("synthetic:1:lots", world)
    with pytest.raises(ValueError, match="n \\(frames\\)"):
        FaceBank(world, 1, n=0)


def test_heldout_frames_are_never_bank_frames(world):
    bank = FaceBank(world, 0, n=256, seed=0)
    _, held = bank.heldout(256, 32, seed=0)
    a = bank.labels.factors.pose
    b = held.factors.pose
    assert torch.cdist(a, b).min() > 1e-4  # no held-out frame repeats a bank frame
    swap, swap_labels = bank.heldout(4, 32, identity=3)
    assert torch.equal(swap_labels.factors.pose, held.factors.pose[:4]) and int(swap_labels.identity[0]) == 3
    assert stream_seed(0, 0, 0, "bank") != stream_seed(0, 0, 0, "heldout")


def test_bank_on_device_stays_uint8():
    world = FaceWorld(seed=0)
    bank = FaceBank(world, 0, n=8)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    assert bank.frames(16, dev).device.type == dev and bank.frames(16, dev).dtype == torch.uint8
    g = torch.Generator(device=dev).manual_seed(0)
    assert bank.batch(3, g, 16, device=dev).device.type == dev


def test_disk_cache_round_trips_and_recovers_from_damage(tmp_path):
    world = FaceWorld(seed=0)
    bank = FaceBank(world, 0, n=12, cache_dir=tmp_path)
    frames = bank.frames(24)
    files = list(tmp_path.glob("bank-*.safetensors"))
    assert len(files) == 1 and bank.cache_key(24) in files[0].name
    cached = FaceBank(world, 0, n=12, cache_dir=tmp_path)
    assert torch.equal(cached.frames(24), frames)
    assert FaceBank(world, 0, n=12, seed=1).cache_key(24) != bank.cache_key(24)
    assert FaceBank(FaceWorld(seed=1), 0, n=12).cache_key(24) != bank.cache_key(24)
    files[0].write_bytes(b"not a safetensors file")
    assert torch.equal(FaceBank(world, 0, n=12, cache_dir=tmp_path).frames(24), frames)
