"""tools/train_he_detector.py's augmentation (needs the ``train`` extra: skipped without torch)."""

import numpy as np
import pytest
from helpers import load_tool


def _tool():
    torch = pytest.importorskip("torch")
    return torch, load_tool("train_he_detector")


def test_sharpening_is_off_by_default_and_leaves_the_earlier_recipes_unchanged():
    torch, tool = _tool()
    batch = (np.random.default_rng(0).random((32, 96, 96, 3)) * 255).astype(np.uint8)
    plain = tool.Augmenter(torch, 5)(batch)
    assert torch.equal(tool.Augmenter(torch, 5, sharpen=0.0)(batch), plain)
    sharpened = tool.Augmenter(torch, 5, sharpen=1.0)(batch)
    assert sharpened.shape == plain.shape == (32, 3, 96, 96)
    changed = (sharpened != plain).flatten(1).any(1)
    # about 0.3 of the patches that were not blurred (and, after them, the later draws differ)
    assert 0 < int(changed.sum()) <= 32


def test_the_unsharp_mask_raises_edge_contrast():
    torch, tool = _tool()
    # a step edge: sharpening overshoots it on both sides (values beyond the two plateaus)
    step = np.zeros((16, 96, 96, 3), np.uint8)
    step[:, :, :48] = 80
    step[:, :, 48:] = 180

    def spread(sharpen):
        aug = tool.Augmenter(torch, 0, colour=0.0, degrade=0.0, scale=0.0, sharpen=sharpen)
        aug.u = lambda n, lo, hi: torch.full((n,), float(hi))  # the largest amount and sigma
        out = aug(step).flatten(1)
        return out.amax(1) - out.amin(1)

    assert float(spread(0.0).max()) <= 110  # JPEG may ring a little
    assert float(spread(1.0).max()) > 140   # an overshoot of > 20 levels on each side


def test_the_card_lists_the_unsharp_mask_only_when_used():
    _, tool = _tool()
    assert tool.augmentations() == tool.AUGMENTATIONS
    assert tool.augmentations(0.8)[-1].startswith("unsharp mask with p = 0.3")


def test_a_new_member_can_keep_the_shipped_members_validation_patches():
    _, tool = _tool()
    import pandas as pd

    table = pd.DataFrame({"split": ["train"] * 160 + ["test"] * 40,
                          "label": np.tile([0, 1], 100), "source": "pcam"})

    def validation(argv):
        args = tool.parser().parse_args(argv)
        return tool.split_train_val(table, args.val_fraction, tool.split_seed_of(args))[1]

    shipped = validation(["--seed", "0"])
    assert len(shipped) == 20 and set(table.loc[shipped, "split"]) == {"train"}
    assert np.array_equal(validation(["--seed", "1", "--split-seed", "0"]), shipped)
    assert not np.array_equal(validation(["--seed", "1"]), shipped)  # the default follows --seed


def test_the_card_s_retrain_command_gives_the_options_used():
    _, tool = _tool()
    plain = tool.parser().parse_args([])
    assert tool.retrain_options(plain) == ""
    args = tool.parser().parse_args(["--arch", "lite0", "--seed", "1", "--split-seed", "0", "--lr", "0.0015",
                                     "--synthetic", "x.npz", "--aug-sharpen", "1.0"])
    assert tool.retrain_options(args) == ("--arch lite0 --split-seed 0 --synthetic synthetic_patches.npz "
                                          "--lr 0.0015 --aug-sharpen 1.0")


def test_a_member_saved_with_save_state_is_where_init_state_starts(tmp_path):
    torch, tool = _tool()
    from torch import nn

    torch.manual_seed(3)
    start = tool.build_model(torch, nn, width_4=8, width_8=8)
    init = tmp_path / "start.pt"
    torch.save(start.state_dict(), init)
    rng = np.random.default_rng(0)
    images = (rng.random((64, 96, 96, 3)) * 255).astype(np.uint8)
    labels = rng.integers(0, 2, 64)
    fit, val = np.arange(48), np.arange(48, 64)
    args = tool.parser().parse_args(["--epochs", "1", "--batch", "16", "--lr", "0", "--width4", "8", "--width8", "8",
                                     "--init-state", str(init), "--save-state", str(tmp_path / "end.pt")])
    model, best_epoch, _, _ = tool.train(args, torch, nn, images, labels, fit, val)
    # no learning rate: the weights it starts from are the weights it ends with, to the rounding of
    # the running average (batch-norm statistics move with every batch: only learned parameters)
    other = tool.build_model(torch, nn, width_4=8, width_8=8)  # a fresh draw differs from the start
    for name, p in model.named_parameters():
        assert torch.allclose(p, dict(start.named_parameters())[name], atol=1e-6), name
    assert not all(torch.allclose(p, dict(other.named_parameters())[n], atol=1e-6)
                   for n, p in model.named_parameters())
    saved = torch.load(tmp_path / "end.pt", weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    assert "--init-state start.pt" in tool.retrain_options(args)
