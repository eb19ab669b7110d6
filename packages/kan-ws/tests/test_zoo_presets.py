"""Zoo presets: the CPU-scale Fashion-MNIST INR zoos and their out-of-distribution companions."""

from __future__ import annotations

from pathlib import Path

import pytest
from kan_ws.zoo.presets import OOD_CPU_WIDTHS, PRESETS, get_preset, scaled_counts, zoo_splits

FMNIST = Path("/usr/share/datasets/fashion-mnist")
IN_DIST = ("fmnist-inr-cpu", "fmnist-inr-cpu-large")
TRAINING = ("dataset", "grid_size", "spline_order", "epochs", "batch_size", "lr", "optimizer", "downsample")


def _ood(h: int):
    return get_preset(f"fmnist-inr-h{h}-cpu")


def test_ood_cpu_presets_are_registered_for_every_width():
    names = {f"fmnist-inr-h{h}-cpu" for h in OOD_CPU_WIDTHS}
    assert names <= set(PRESETS)
    assert OOD_CPU_WIDTHS[0] == 16 and list(OOD_CPU_WIDTHS) == sorted(set(OOD_CPU_WIDTHS))
    assert max(OOD_CPU_WIDTHS) >= 2 * 16  # reaches at least twice the training width (paper: 96 / 32 = 3)


@pytest.mark.parametrize("base", IN_DIST)
def test_ood_cpu_presets_differ_from_in_distribution_only_in_hidden_width(base):
    ref = get_preset(base)
    assert ref.task == "inr" and ref.widths == (2, 16, 16, 1)
    for h in OOD_CPU_WIDTHS:
        p = _ood(h)
        assert p.task == "inr"
        assert {k: getattr(p, k) for k in TRAINING} == {k: getattr(ref, k) for k in TRAINING}, p.name
        assert p.widths == (ref.widths[0], h, h, ref.widths[-1])  # same depth, in and out, other width
        assert p.spec.replace(widths=ref.widths) == ref.spec  # the KAN spec differs only in its widths
        assert p.spec.num_coefficients == ref.spec.num_coefficients  # same per-edge features (G + k)
    edges = [sum(o * i for o, i in _ood(h).spec.layer_shapes()) for h in OOD_CPU_WIDTHS]
    assert edges[0] == sum(o * i for o, i in ref.spec.layer_shapes()) == 304 and edges == sorted(set(edges))


def test_ood_cpu_presets_are_all_test_split():
    for h in OOD_CPU_WIDTHS:
        p = _ood(h)
        assert p.splits == (0, 0, p.num_models) and p.num_models >= 50
        assert scaled_counts(p.splits, p.num_models) == (0, 0, p.num_models)
        s = zoo_splits(p, p.num_models, seed=0)
        assert s["train"] == [] and s["val"] == [] and s["test"] == list(range(p.num_models))
        assert scaled_counts(p.splits, 10) == (0, 0, 10)  # --models keeps everything in the test split


def test_large_cpu_preset_is_fmnist_inr_cpu_with_more_models():
    small, large = get_preset("fmnist-inr-cpu"), get_preset("fmnist-inr-cpu-large")
    assert large.replace(name=small.name, num_models=small.num_models, splits=small.splits,
                         shard_size=small.shard_size) == small  # fmt: skip
    assert sum(large.splits) == large.num_models and large.splits[0] >= 1000
    s = zoo_splits(large, large.num_models, seed=0)
    assert [len(s[k]) for k in ("train", "val", "test")] == list(large.splits)


@pytest.mark.data
def test_ood_zoo_images_are_the_first_in_distribution_test_images():
    """Same seed -> the OOD INRs represent the first test images of the in-distribution zoo's test split."""
    if not (FMNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Fashion-MNIST not found under {FMNIST} (apt-get install dataset-fashion-mnist)")
    from kan_ws.zoo.inr import InrTask

    ref = InrTask(get_preset("fmnist-inr-cpu-large"), 1500, seed=0)
    n_tv = ref.n_train + ref.n_val
    ood = InrTask(_ood(32), 100, seed=0)
    assert ood.n_train == ood.n_val == 0 and ood.source == ref.source[n_tv : n_tv + 100]
    assert all(split == "test" for split, _ in ood.source)
    assert (ood.labels == ref.labels[n_tv : n_tv + 100]).all()
    other = InrTask(_ood(32), 100, seed=1)  # negative control: another seed draws other images
    assert other.source != ood.source
