"""Model zoos: build, storage, resumability after SIGKILL, tamper detection, tasks, CLI, torchrun."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from kan_core.batched import predict_stacked
from kan_core.prune import kept_fraction, oracle_masks
from kan_ws.zoo import PRESETS, ZooError, build_zoo, load_zoo, verify_zoo
from kan_ws.zoo.classifiers import classifier_data
from kan_ws.zoo.cli import group
from kan_ws.zoo.sine import FREQ_RANGE, sine_grid
from kan_ws.zoo.store import read_shard_header, write_shard

TINY_SINE = PRESETS["sine-cpu"].replace(
    name="tiny-sine", widths=(2, 4, 4, 1), grid_size=5, resolution=8, epochs=30, shard_size=3
)
TINY_CLF = PRESETS["digits-clf-cpu"].replace(
    name="tiny-clf", widths=(64, 4, 4, 10), grid_size=3, epochs=2, shard_size=2
)
TINY_INR = PRESETS["digits-inr-cpu"].replace(
    name="tiny-inr", widths=(2, 4, 4, 1), grid_size=5, epochs=20, shard_size=3
)
FMNIST = Path("/usr/share/datasets/fashion-mnist")


def _child_env():
    env = dict(os.environ)
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def _shard_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("shard-*.safetensors"))}


@pytest.fixture(scope="module")
def sine_zoo(tmp_path_factory):
    out = tmp_path_factory.mktemp("sine") / "zoo"
    build_zoo(TINY_SINE, out, models=7, device="cpu", seed=3)
    return out


def test_sine_zoo_contents(sine_zoo):
    zoo = load_zoo(sine_zoo)
    assert len(zoo) == 7 and zoo.task == "sine" and zoo.spec == TINY_SINE.spec and zoo.masks is None
    assert sorted(p.name for p in sine_zoo.iterdir()) == [
        "manifest.json", "shard-00000.safetensors", "shard-00001.safetensors", "shard-00002.safetensors",
    ]  # fmt: skip
    w = zoo.targets["frequency"]
    assert w.shape == (7, 2) and (w >= FREQ_RANGE[0]).all() and (w <= FREQ_RANGE[1]).all()
    split_ids = torch.cat([zoo.splits[k] for k in ("train", "val", "test")]).sort().values
    assert torch.equal(split_ids, torch.arange(7))
    assert zoo.layers[0]["coef"].shape == (7, 4, 2, 8) and zoo.layers[0]["grid"].shape == (7, 2, 12)
    x = sine_grid(8)
    pred = predict_stacked(zoo.spec, zoo.layers, x)
    torch.testing.assert_close(zoo.kan(4)(x).detach(), pred[4], atol=1e-6, rtol=1e-5)
    mse = ((pred.squeeze(-1) - torch.sin(w @ x.T)) ** 2).mean(1)
    torch.testing.assert_close(mse, torch.tensor([m["final_mse"] for m in zoo.meta]), atol=1e-5, rtol=1e-3)
    assert [m["index"] for m in zoo.meta] == list(range(7))
    sub = zoo.subset([6, 2])
    assert len(sub) == 2 and torch.equal(sub.targets["frequency"][1], w[2]) and sub.meta[0]["index"] == 6


def test_load_zoo_keeps_the_manifest_seed(sine_zoo):
    zoo = load_zoo(sine_zoo)
    assert json.loads((sine_zoo / "manifest.json").read_text())["seed"] == 3
    assert zoo.seed == 3 and zoo.subset([1, 0]).seed == 3 and zoo.to("cpu").seed == 3


def test_classifier_data_uses_the_zoo_seed(tmp_path):
    """A zoo built with seed 2 reports the training subset its models saw, not seed 0's."""
    from kan_ws.zoo.classifiers import ClassifierTask

    preset = TINY_CLF.replace(name="tiny-clf-subset", train_subset=300, epochs=1)
    zoo = load_zoo(build_zoo(preset, tmp_path / "clf", models=2, device="cpu", seed=2))
    x_train, y_train = classifier_data(zoo, "train")
    built = ClassifierTask(preset, 2, 2, None)
    assert x_train.shape[0] == 300
    assert torch.equal(x_train, built.x) and torch.equal(y_train, built.y)
    assert not torch.equal(x_train, ClassifierTask(preset, 2, 0, None).x)  # the seed picks the subset


def test_model_depends_only_on_its_index(sine_zoo, tmp_path):
    one = build_zoo(TINY_SINE, tmp_path / "one", models=7, device="cpu", seed=3, shard_size=7)
    a, b = load_zoo(sine_zoo), load_zoo(one)
    assert torch.equal(a.targets["frequency"], b.targets["frequency"])
    for pa, pb in zip(a.layers, b.layers):
        for k in pa:
            torch.testing.assert_close(pa[k], pb[k], atol=1e-4, rtol=1e-3)  # batched-matmul rounding only
    fewer = load_zoo(build_zoo(TINY_SINE, tmp_path / "few", models=4, device="cpu", seed=3))
    assert torch.equal(fewer.targets["frequency"], a.targets["frequency"][:4])


def test_restart_skips_finished_shards_and_is_byte_identical(sine_zoo, tmp_path):
    out = tmp_path / "zoo"
    shutil.copytree(sine_zoo, out)
    keep = out / "shard-00000.safetensors"
    mtime = keep.stat().st_mtime_ns
    (out / "shard-00001.safetensors").unlink()
    (out / "manifest.json").unlink()
    (out / ".shard-00001.safetensors.abc.tmp").write_bytes(b"partial")  # a killed writer's leftover
    calls = []
    build_zoo(TINY_SINE, out, models=7, device="cpu", seed=3, progress=calls.append)
    assert calls == [3, 3, 1] and keep.stat().st_mtime_ns == mtime
    assert _shard_bytes(out) == _shard_bytes(sine_zoo)
    assert (out / "manifest.json").read_bytes() == (sine_zoo / "manifest.json").read_bytes()
    assert not list(out.glob(".*.tmp"))


def test_other_zoo_in_folder_is_refused(sine_zoo, tmp_path):
    out = tmp_path / "zoo"
    shutil.copytree(sine_zoo, out)
    with pytest.raises(ZooError, match="different zoo"):
        build_zoo(TINY_SINE, out, models=7, device="cpu", seed=4)


def test_build_killed_with_sigkill_resumes_to_identical_shards(tmp_path):
    args = [
        "sine-cpu",
        "--models",
        "6",
        "--shard-size",
        "2",
        "--epochs",
        "60",
        "--device",
        "cpu",
        "--threads",
        "1",
    ]
    cli = [sys.executable, "-c", "from kan_ws.zoo.cli import group; group()", "build"]
    env = _child_env()
    ref = tmp_path / "ref"
    subprocess.run([*cli, *args, "--out", str(ref)], check=True, env=env, capture_output=True, timeout=300)
    out = tmp_path / "killed"
    proc = subprocess.Popen([*cli, *args, "--out", str(out)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 240
    while not (out / "shard-00000.safetensors").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert (out / "shard-00000.safetensors").exists() and not (out / "manifest.json").exists()
    first = (out / "shard-00000.safetensors").stat().st_mtime_ns
    done = subprocess.run(
        [*cli, *args, "--out", str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert (out / "shard-00000.safetensors").stat().st_mtime_ns == first  # skipped, not rebuilt
    assert _shard_bytes(out) == _shard_bytes(ref) and len(_shard_bytes(ref)) == 3
    assert verify_zoo(out) == []


def test_tampered_truncated_and_nonfinite_shards_are_named(sine_zoo, tmp_path):
    runner = CliRunner()
    assert runner.invoke(group, ["verify", str(sine_zoo)]).exit_code == 0
    # flip one byte in the tensor data of shard 1
    bad = tmp_path / "tampered"
    shutil.copytree(sine_zoo, bad)
    p = bad / "shard-00001.safetensors"
    data = bytearray(p.read_bytes())
    data[-5] ^= 0xFF
    p.write_bytes(bytes(data))
    res = runner.invoke(group, ["verify", str(bad)])
    assert res.exit_code == 1 and "shard-00001.safetensors" in res.output and "shard-00000" not in res.output
    with pytest.raises(ZooError, match="shard-00001.safetensors"):
        load_zoo(bad)
    # truncate shard 2
    trunc = tmp_path / "truncated"
    shutil.copytree(sine_zoo, trunc)
    q = trunc / "shard-00002.safetensors"
    q.write_bytes(q.read_bytes()[:100])
    res = runner.invoke(group, ["verify", str(trunc)])
    assert res.exit_code == 1 and "shard-00002.safetensors" in res.output
    with pytest.raises(ZooError, match="shard-00002.safetensors"):
        load_zoo(trunc)
    # a consistent hash but a NaN inside: caught by the content checks
    nan = tmp_path / "nan"
    shutil.copytree(sine_zoo, nan)
    zoo = load_zoo(sine_zoo)
    layers = [{k: v[:3].clone() for k, v in p.items()} for p in zoo.layers]
    layers[1]["coef"][0, 0, 0, 0] = float("nan")
    write_shard(nan / "shard-00000.safetensors", layers, {"frequency": zoo.targets["frequency"][:3]}, None,
                read_shard_header(sine_zoo / "shard-00000.safetensors"))  # fmt: skip
    with pytest.raises(ZooError, match=r"shard-00000.safetensors.*SHA-256"):
        load_zoo(nan)
    with pytest.raises(ZooError, match=r"shard-00000.safetensors: tensor layers.1.coef holds non-finite"):
        load_zoo(nan, check_hash=False)


def test_classifier_zoo_on_digits(tmp_path):
    out = build_zoo(TINY_CLF, tmp_path / "clf", models=4, device="cpu", seed=0)
    zoo = load_zoo(out)
    assert zoo.task == "classifier" and zoo.dataset == "digits"
    acc, noise = zoo.targets["test_accuracy"], zoo.targets["noise"]
    assert acc.shape == (4,) and ((acc >= 0) & (acc <= 1)).all() and ((noise >= 0) & (noise <= 1)).all()
    assert [m.shape for m in zoo.masks] == [(4, 4, 64), (4, 4, 4), (4, 10, 4)]
    x_train, _ = classifier_data(zoo, "train")
    x_test, y_test = classifier_data(zoo, "test")
    for i in (0, 3):
        kan = zoo.kan(i)
        want = oracle_masks(kan, x_train, threshold=0.01)
        for a, b in zip(want, zoo.masks):
            assert torch.equal(a, b[i])
        assert zoo.meta[i]["kept_fraction"] == pytest.approx(kept_fraction(want))
        got = (kan(x_test).argmax(-1) == y_test).float().mean()
        assert float(got) == pytest.approx(float(acc[i]), abs=1e-6)
    assert 0 < zoo.meta[0]["kept_fraction"] <= 1


def test_inr_zoo_on_digits(tmp_path):
    from kan_core.datasets import load_dataset

    zoo = load_zoo(build_zoo(TINY_INR, tmp_path / "inr", models=6, device="cpu"))
    assert {k: len(v) for k, v in zoo.splits.items()} == {"train": 3, "val": 1, "test": 2}
    xtr, ytr = load_dataset("digits", "train")
    xte, yte = load_dataset("digits", "test")
    for i, m in enumerate(zoo.meta):
        labels = ytr if m["image_split"] == "train" else yte
        assert int(zoo.targets["label"][i]) == int(labels[m["image_index"]]) == m["label"]
        assert (m["image_split"] == "test") == (i in zoo.splits["test"].tolist())
        assert m["psnr"] > 5


@pytest.mark.data
def test_fashion_mnist_zoos_from_real_files(tmp_path):
    if not (FMNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Fashion-MNIST not found under {FMNIST} (apt-get install dataset-fashion-mnist)")
    inr = load_zoo(build_zoo("fmnist-inr-cpu", tmp_path / "inr", models=3, epochs=1, device="cpu"))
    assert inr.spec.widths == (2, 16, 16, 1) and len(inr) == 3 and inr.dataset == "fashion-mnist"
    assert all(m["final_mse"] < 0.3 for m in inr.meta)
    p = PRESETS["fmnist-clf-cpu"].replace(train_subset=1000, epochs=3, noise_range=(0.0, 0.0))
    clf = load_zoo(build_zoo(p, tmp_path / "clf", models=2, device="cpu"))
    assert clf.spec.widths[0] == 196 and clf.masks is not None
    assert (clf.targets["test_accuracy"] > 0.3).all()  # 10 classes: clean labels: well above chance (0.1)


def test_cli_list_info_verify_help(sine_zoo):
    runner = CliRunner()
    res = runner.invoke(group, ["list"])
    assert res.exit_code == 0 and all(name in res.output for name in PRESETS)
    res = runner.invoke(group, ["info", str(sine_zoo)])
    assert res.exit_code == 0 and "models:   7 in 3 shards" in res.output and "final_mse" in res.output
    for cmd in (
        ["--help"],
        ["build", "--help"],
        ["info", "--help"],
        ["verify", "--help"],
        ["list", "--help"],
    ):
        assert runner.invoke(group, cmd).exit_code == 0
    res = runner.invoke(group, ["build", "no-such-preset", "--out", "x"])
    assert res.exit_code != 0 and "unknown zoo preset" in res.output
    from kan_core.cli import cli  # errors become one line at the root's error boundary

    res = runner.invoke(cli, ["zoo", "info", str(sine_zoo.parent)])
    assert res.exit_code == 1 and "no manifest" in res.output and "Traceback" not in res.output


@pytest.mark.distributed
def test_torchrun_build_equals_single_process(sine_zoo, tmp_path):
    script = tmp_path / "job.py"
    script.write_text(
        "import sys\nfrom kan_ws.zoo import build_zoo\nfrom tests_zoo_preset import P\n"
        "build_zoo(P, sys.argv[1], models=7, device='cpu', seed=3)\n"
    )
    (tmp_path / "tests_zoo_preset.py").write_text(
        "from kan_ws.zoo import PRESETS\n"
        f"P = PRESETS['sine-cpu'].replace(**{json.dumps(dict(name='tiny-sine', widths=[2, 4, 4, 1], grid_size=5, resolution=8, epochs=30, shard_size=3))})\n"
        "P = P.replace(widths=tuple(P.widths))\n"
    )
    out = tmp_path / "dist"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--standalone",
        str(script),
        str(out),
    ]
    env = _child_env()
    env["PYTHONPATH"] = str(tmp_path) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = load_zoo(out), load_zoo(sine_zoo)
    assert a.meta == b.meta or all(x["index"] == y["index"] for x, y in zip(a.meta, b.meta))
    for pa, pb in zip(a.layers, b.layers):
        for k in pa:
            torch.testing.assert_close(pa[k], pb[k], atol=1e-6, rtol=1e-5)
    assert (
        json.loads((out / "manifest.json").read_text())["splits"]
        == json.loads((sine_zoo / "manifest.json").read_text())["splits"]
    )


def test_aligned_zoo_keeps_a_valid_shard_digest(sine_zoo, tmp_path):
    """kan-graph rewrites a kan-ws zoo with permuted layers: every shard header digest is recomputed (a
    stale one made a resumed build or any digest check call the aligned shard damaged)."""
    from kan_core.functional import kan_forward
    from kan_graph import permute_stacked, random_permutation
    from kan_graph.io import read_stacked_zoo, rewritten_fingerprint, write_stacked_zoo
    from kan_ws.zoo.store import check_shard

    src = read_stacked_zoo(sine_zoo)
    perms = random_permutation(src.spec, torch.Generator().manual_seed(0), num_models=len(src))
    out = write_stacked_zoo(src, tmp_path / "aligned", permute_stacked(src.spec, src.layers, perms), perms)
    assert verify_zoo(out) == []
    for k, count in enumerate((3, 3, 1)):
        name = f"shard-{k:05d}.safetensors"
        old, new = read_shard_header(sine_zoo / name), read_shard_header(out / name)
        assert new["digest"] != old["digest"]  # the content changed, and so did its digest
        assert new["fingerprint"] == rewritten_fingerprint(old["fingerprint"]) != old["fingerprint"]
        same = ("digest", "fingerprint")
        assert {a: b for a, b in new.items() if a not in same} == {a: b for a, b in old.items() if a not in same}
        check_shard(out / name, src.spec, "sine", count, False, verify_digest=True)
    a, b = load_zoo(sine_zoo), load_zoo(out)
    x = torch.rand(16, 2, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(kan_forward(x, a.layers, a.spec), kan_forward(x, b.layers, b.spec), atol=1e-5)
    assert torch.equal(a.targets["frequency"], b.targets["frequency"]) and b.seed == a.seed == 3
    assert (b.preset, b.config, b.meta) == (a.preset, a.config, a.meta)
    assert json.loads((out / "manifest.json").read_text())["fingerprint"] == new["fingerprint"]
    # the content is no longer what the build makes: a build over the aligned folder refuses it, and
    # with overwrite rebuilds it to the original zoo's bytes
    with pytest.raises(ZooError, match="shard-00000.safetensors: belongs to a different zoo"):
        build_zoo(TINY_SINE, out, models=7, device="cpu", seed=3)
    build_zoo(TINY_SINE, out, models=7, device="cpu", seed=3, overwrite=True)
    for name in ("shard-00000.safetensors", "shard-00001.safetensors", "shard-00002.safetensors", "manifest.json"):
        assert (out / name).read_bytes() == (sine_zoo / name).read_bytes(), name
