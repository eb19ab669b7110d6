"""Bad inputs through the `kan` command line: every case ends in one clear `Error:` line (no traceback)
with the documented exit status, names the option or file at fault, and leaves every file as it was
(nothing written, nothing lost).

Exit status 2: the command line itself is wrong (found while parsing, before any work); 1: a file or
folder the command read is wrong (found by the library, reported by the root group's error boundary).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from kan_core import KAN
from kan_core.cli import cli
from kan_core.io import load_tensors, save_tensors

CUDA = torch.cuda.is_available()
no_cuda = pytest.mark.skipif(CUDA, reason="this machine has CUDA: --device cuda is valid here")


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file and folder under ``roots``: relative path -> SHA-256 (or 'dir'), mode included."""
    out: dict[str, str] = {}
    for root in roots:
        if not root.exists():
            continue
        for p in sorted(root.rglob("*")):
            key = f"{root.name}/{p.relative_to(root)}"
            mode = oct(p.stat().st_mode)
            out[key] = (
                f"dir {mode}" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest() + f" {mode}"
            )
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """A tiny zoo, a KAN file, a trained checkpoint and some user files, shared (read-only) by every case."""
    from kan_ws.zoo import build_zoo

    root = tmp_path_factory.mktemp("world")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        build_zoo("sine-cpu", root / "zoo", models=8, epochs=1, shard_size=4, device="cpu", seed=0)
        build_zoo("sine-cpu", root / "small", models=6, epochs=1, shard_size=6, device="cpu", seed=0)
        KAN.from_widths([2, 3, 1], generator=torch.Generator().manual_seed(0)).save(root / "kan.safetensors")
        res = CliRunner().invoke(
            cli,
            ["ws", "train", "--task", "sine", "--zoo", str(root / "zoo"), "--epochs", "1", "--hidden", "8",
             "--depth", "1", "--batch-size", "2", "--device", "cpu", "--out", str(root / "runs"), "--quiet"],
        )  # fmt: skip
        assert res.exit_code == 0, res.output
    finally:
        torch.set_num_threads(old)
    (root / "notes.txt").write_text("a user's notes\n")
    (root / "exists.json").write_text('{"keep": true}\n')
    (root / "foreign").mkdir()
    (root / "foreign" / "mine.txt").write_text("not the toolkit's\n")
    (root / "nomanifest").mkdir()
    (root / "metakan").mkdir()
    (root / "metakan" / "feynman.csv").write_text("an earlier result\n")
    return {
        "root": root,
        "zoo": root / "zoo",
        "small": root / "small",
        "kan": root / "kan.safetensors",
        "ckpt": root / "runs" / "sine-wskan-s0.safetensors",
        "runs": root / "runs",
        "notes": root / "notes.txt",
        "file": root / "exists.json",
        "foreign": root / "foreign",
        "nomanifest": root / "nomanifest",
        "metakan": root / "metakan",
    }


def _fill(args: list[str], places: dict[str, Path]) -> list[str]:
    return [a.format(**{k: str(v) for k, v in places.items()}) for a in args]


def _check(res, code: int, needles: tuple[str, ...]) -> None:
    text = res.output
    assert res.exit_code == code, f"exit {res.exit_code}, expected {code}:\n{text}\n{res.exception!r}"
    assert "Traceback" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, text
    for needle in needles:
        assert needle in text, f"{needle!r} not in:\n{text}"


# (id, command line with {placeholders}, exit status, texts the message must contain)
CLI_CASES: list[tuple[str, list[str], int, tuple[str, ...]]] = [
    # kan info / quickstart
    ("info-device-nonsense", ["info", "--device", "nonsense"], 2, ("--device", "nonsense")),
    ("info-device-cuda7", ["info", "--device", "cuda:7"], 2, ("--device", "cuda:7")),
    ("qs-steps-0", ["quickstart", "--steps", "0"], 2, ("--steps",)),
    ("qs-lr-0", ["quickstart", "--lr", "0"], 2, ("--lr",)),
    ("qs-lr-neg", ["quickstart", "--lr", "-1"], 2, ("--lr",)),
    ("qs-points-5", ["quickstart", "--points", "5"], 2, ("--points",)),
    ("qs-grid-0", ["quickstart", "--grid-size", "0"], 2, ("--grid-size",)),
    ("qs-threads-neg", ["quickstart", "--threads", "-1"], 2, ("--threads",)),
    ("qs-threads-neg", ["quickstart", "--threads", "-2"], 2, ("--threads",)),
    ("qs-log-every-0", ["quickstart", "--log-every", "0"], 2, ("--log-every",)),
    ("qs-seed-text", ["quickstart", "--seed", "abc"], 2, ("--seed",)),
    ("qs-device-mps", ["quickstart", "--device", "mps"], 2, ("--device", "mps")),
    # kan zoo build: options checked before any folder is made
    ("build-preset", ["zoo", "build", "nope", "--out", "{new}"], 2, ("PRESET", "nope")),
    ("build-models-0", ["zoo", "build", "sine-cpu", "--out", "{new}", "--models", "0"], 2, ("--models",)),
    ("build-models-neg", ["zoo", "build", "sine-cpu", "--out", "{new}", "--models", "-3"], 2, ("--models",)),
    (
        "build-shard-0",
        ["zoo", "build", "sine-cpu", "--out", "{new}", "--shard-size", "0"],
        2,
        ("--shard-size",),
    ),
    ("build-epochs-neg", ["zoo", "build", "sine-cpu", "--out", "{new}", "--epochs", "-5"], 2, ("--epochs",)),
    ("build-epochs-0", ["zoo", "build", "sine-cpu", "--out", "{new}", "--epochs", "0"], 2, ("--epochs",)),
    (
        "build-threads-neg",
        ["zoo", "build", "sine-cpu", "--out", "{new}", "--threads", "-1"],
        2,
        ("--threads",),
    ),
    (
        "build-threads-neg",
        ["zoo", "build", "sine-cpu", "--out", "{new}", "--threads", "-2"],
        2,
        ("--threads",),
    ),
    (
        "build-device",
        ["zoo", "build", "sine-cpu", "--out", "{new}", "--device", "nonsense"],
        2,
        ("--device",),
    ),
    (
        "build-device-cuda9",
        ["zoo", "build", "sine-cpu", "--out", "{new}", "--device", "cuda:9"],
        2,
        ("--device",),
    ),
    (
        "build-out-file",
        ["zoo", "build", "sine-cpu", "--out", "{file}", "--models", "2"],
        2,
        ("--out", "exists.json"),
    ),
    (
        "build-out-foreign",
        ["zoo", "build", "sine-cpu", "--out", "{foreign}", "--models", "2"],
        2,
        ("--out", "mine.txt"),
    ),
    (
        "build-data-root",
        ["zoo", "build", "sine-cpu", "--out", "{new}", "--data-root", "{new}x"],
        2,
        ("--data-root",),
    ),
    (
        "build-other-zoo",
        ["zoo", "build", "sine-cpu", "--out", "{zoo}", "--models", "3"],
        1,
        ("shard-00000", "different zoo"),
    ),
    (
        "build-other-seed",
        ["zoo", "build", "sine-cpu", "--out", "{zoo}", "--models", "8", "--seed", "5"],
        1,
        ("different zoo",),
    ),
    # kan zoo info / verify on folders that are not zoos
    ("info-missing", ["zoo", "info", "{new}"], 2, ("PATH",)),
    ("info-no-manifest", ["zoo", "info", "{nomanifest}"], 1, ("nomanifest", "no manifest")),
    ("verify-no-manifest", ["zoo", "verify", "{nomanifest}"], 1, ("nomanifest", "no manifest")),
    # kan ws train
    (
        "train-epochs-0",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}", "--epochs", "0"],
        2,
        ("--epochs",),
    ),
    (
        "train-epochs-neg",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}", "--epochs", "-5"],
        2,
        ("--epochs",),
    ),
    (
        "train-batch-0",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}", "--batch-size", "0"],
        2,
        ("--batch-size",),
    ),
    (
        "train-size-neg",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}", "--train-size", "-3"],
        2,
        ("--train-size",),
    ),
    (
        "train-size-0",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}", "--train-size", "0"],
        2,
        ("--train-size",),
    ),
    (
        "train-lr-0",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}", "--lr", "0"],
        2,
        ("--lr",),
    ),
    (
        "train-wd-neg",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}", "--weight-decay", "-1"],
        2,
        ("--weight-decay",),
    ),
    (
        "train-hidden-0",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}", "--hidden", "0"],
        2,
        ("--hidden",),
    ),
    (
        "train-depth-0",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}", "--depth", "0"],
        2,
        ("--depth",),
    ),
    (
        "train-dropout-1",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}", "--dropout", "1"],
        2,
        ("--dropout",),
    ),
    (
        "train-dropout-neg",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}", "--dropout", "-0.1"],
        2,
        ("--dropout",),
    ),
    (
        "train-device",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}", "--device", "gpu9"],
        2,
        ("--device",),
    ),
    (
        "train-accuracy-on-sine",
        ["ws", "train", "--task", "accuracy", "--zoo", "{zoo}", "--out", "{new}"],
        2,
        ("--zoo", "'sine'", "'classifier'"),
    ),
    (
        "train-mask-on-sine",
        ["ws", "train", "--task", "mask", "--zoo", "{zoo}", "--out", "{new}"],
        2,
        ("--zoo", "'classifier'"),
    ),
    (
        "train-inr-on-sine",
        ["ws", "train", "--task", "inr", "--zoo", "{zoo}", "--out", "{new}"],
        2,
        ("--zoo", "'inr'"),
    ),
    (
        "train-zoo-missing",
        ["ws", "train", "--task", "sine", "--zoo", "{new}x", "--out", "{new}"],
        2,
        ("--zoo",),
    ),
    (
        "train-zoo-not-zoo",
        ["ws", "train", "--task", "sine", "--zoo", "{nomanifest}", "--out", "{new}"],
        1,
        ("nomanifest", "no manifest"),
    ),
    (
        "train-model",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}", "--model", "gpt"],
        2,
        ("--model",),
    ),
    ("train-task", ["ws", "train", "--task", "poetry", "--zoo", "{zoo}", "--out", "{new}"], 2, ("--task",)),
    (
        "train-empty-split",
        ["ws", "train", "--task", "sine", "--zoo", "{small}", "--out", "{new}"],
        2,
        ("--zoo", "split 'test' is empty"),
    ),
    (
        "train-size-too-big",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}", "--train-size", "99"],
        2,
        ("--train-size", "99"),
    ),
    (
        "eval-empty-split",
        ["ws", "eval", "--checkpoint", "{ckpt}", "--zoo", "{small}"],
        2,
        ("--zoo", "split 'test' is empty"),
    ),
    (
        "train-out-file",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{file}"],
        2,
        ("--out", "exists.json"),
    ),
    # kan ws eval / ood / table / plot
    ("eval-ckpt-text", ["ws", "eval", "--checkpoint", "{notes}", "--zoo", "{zoo}"], 1, ("notes.txt",)),
    (
        "eval-ckpt-kan",
        ["ws", "eval", "--checkpoint", "{kan}", "--zoo", "{zoo}"],
        1,
        ("kan.safetensors", "not a kan-ws checkpoint"),
    ),
    ("eval-ckpt-missing", ["ws", "eval", "--checkpoint", "{new}", "--zoo", "{zoo}"], 2, ("--checkpoint",)),
    (
        "eval-split",
        ["ws", "eval", "--checkpoint", "{ckpt}", "--zoo", "{zoo}", "--split", "dev"],
        2,
        ("--split",),
    ),
    (
        "eval-out-exists",
        ["ws", "eval", "--checkpoint", "{ckpt}", "--zoo", "{zoo}", "--out", "{file}"],
        2,
        ("--out", "exists.json", "--force"),
    ),
    (
        "eval-out-folder",
        ["ws", "eval", "--checkpoint", "{ckpt}", "--zoo", "{zoo}", "--out", "{foreign}"],
        2,
        ("--out",),
    ),
    (
        "eval-device",
        ["ws", "eval", "--checkpoint", "{ckpt}", "--zoo", "{zoo}", "--device", "tpu"],
        2,
        ("--device",),
    ),
    (
        "eval-zoo-not-zoo",
        ["ws", "eval", "--checkpoint", "{ckpt}", "--zoo", "{nomanifest}"],
        1,
        ("no manifest",),
    ),
    (
        "ood-out-exists",
        ["ws", "ood", "--checkpoint", "{ckpt}", "--zoo", "{zoo}", "--out", "{file}"],
        2,
        ("--out", "exists.json"),
    ),
    ("table-missing", ["ws", "table", "{new}"], 2, ("PATHS",)),
    ("table-out-exists", ["ws", "table", "{runs}", "--out", "{file}"], 2, ("--out", "exists.json")),
    ("plot-out-foreign", ["ws", "plot", "{runs}", "--out", "{foreign}"], 2, ("--out", "mine.txt")),
    # kan prune --predict
    (
        "prune-threshold-high",
        ["prune", "{kan}", "--checkpoint", "{ckpt}", "--out", "{new}", "--threshold", "1.5"],
        2,
        ("--threshold",),
    ),
    (
        "prune-threshold-neg",
        ["prune", "{kan}", "--checkpoint", "{ckpt}", "--out", "{new}", "--threshold", "-0.1"],
        2,
        ("--threshold",),
    ),
    (
        "prune-out-exists",
        ["prune", "{kan}", "--checkpoint", "{ckpt}", "--out", "{file}"],
        2,
        ("--out", "exists.json"),
    ),
    (
        "prune-ckpt-missing",
        ["prune", "{kan}", "--checkpoint", "{new}", "--out", "{new}.st"],
        2,
        ("--checkpoint",),
    ),
    (
        "prune-not-mask",
        ["prune", "{kan}", "--checkpoint", "{ckpt}", "--out", "{new}"],
        2,
        ("sine-wskan-s0", "'mask'"),
    ),
    (
        "prune-device",
        ["prune", "{kan}", "--checkpoint", "{ckpt}", "--out", "{new}", "--device", "x"],
        2,
        ("--device",),
    ),
    # kan graph convert / align
    ("convert-missing", ["graph", "convert", "{new}"], 2, ("PATH",)),
    ("convert-no-manifest", ["graph", "convert", "{nomanifest}"], 1, ("manifest.json",)),
    ("convert-text-file", ["graph", "convert", "{notes}"], 1, ("notes.txt",)),
    ("convert-points-0", ["graph", "convert", "{kan}", "--num-points", "0"], 2, ("--num-points",)),
    ("convert-out-exists", ["graph", "convert", "{kan}", "--out", "{file}"], 2, ("--out", "exists.json")),
    ("convert-encoding", ["graph", "convert", "{kan}", "--encoding", "jpeg"], 2, ("--encoding",)),
    ("convert-device", ["graph", "convert", "{kan}", "--device", "cuda:x"], 2, ("--device",)),
    ("align-out-self", ["graph", "align", "{zoo}", "--out", "{zoo}"], 2, ("--out", "differ")),
    (
        "align-reference-text",
        ["graph", "align", "{zoo}", "--out", "{new}", "--reference", "abc"],
        2,
        ("--reference",),
    ),
    (
        "align-reference-range",
        ["graph", "align", "{zoo}", "--out", "{new}", "--reference", "99"],
        2,
        ("--reference", "out of range"),
    ),
    (
        "align-max-models-0",
        ["graph", "align", "{zoo}", "--out", "{new}", "--max-models", "0"],
        2,
        ("--max-models",),
    ),
    ("align-tol-0", ["graph", "align", "{zoo}", "--out", "{new}", "--tol", "0"], 2, ("--tol",)),
    (
        "align-max-iter-0",
        ["graph", "align", "{zoo}", "--out", "{new}", "--max-iter", "0"],
        2,
        ("--max-iter",),
    ),
    ("align-not-zoo", ["graph", "align", "{nomanifest}", "--out", "{new}"], 1, ("manifest.json",)),
    # kan metakan
    ("mk-threads-0", ["metakan", "--threads", "0", "feynman", "--out", "{new}"], 2, ("--threads",)),
    ("mk-device", ["metakan", "feynman", "--out", "{new}", "--device", "quantum"], 2, ("--device",)),
    (
        "mk-feynman-eq",
        ["metakan", "feynman", "--out", "{new}", "--equations", "E=mc2"],
        2,
        ("--equations", "E=mc2"),
    ),
    ("mk-feynman-grids-0", ["metakan", "feynman", "--out", "{new}", "--grids", "0"], 2, ("--grids",)),
    ("mk-feynman-grids-text", ["metakan", "feynman", "--out", "{new}", "--grids", "a,b"], 2, ("--grids",)),
    ("mk-feynman-steps-0", ["metakan", "feynman", "--out", "{new}", "--steps", "0"], 2, ("--steps",)),
    (
        "mk-highdim-fn",
        ["metakan", "highdim", "--out", "{new}", "--functions", "f9"],
        2,
        ("--functions", "f9"),
    ),
    ("mk-highdim-dims-0", ["metakan", "highdim", "--out", "{new}", "--dims", "0"], 2, ("--dims",)),
    (
        "mk-images-dataset",
        ["metakan", "images", "--out", "{new}", "--datasets", "imagenet"],
        2,
        ("--datasets", "imagenet"),
    ),
    ("mk-images-hiddens-0", ["metakan", "images", "--out", "{new}", "--hiddens", "0"], 2, ("--hiddens",)),
    ("mk-images-epochs-0", ["metakan", "images", "--out", "{new}", "--epochs", "0"], 2, ("--epochs",)),
    (
        "mk-images-max-train-0",
        ["metakan", "images", "--out", "{new}", "--max-train", "0"],
        2,
        ("--max-train",),
    ),
    (
        "mk-images-data-root",
        ["metakan", "images", "--out", "{new}", "--data-root", "{new}x"],
        2,
        ("--data-root",),
    ),
    (
        "mk-images-models",
        ["metakan", "images", "--out", "{new}", "--models", "kan,mlp"],
        2,
        ("--models", "mlp"),
    ),
    ("mk-conv-kinds", ["metakan", "conv", "--out", "{new}", "--kinds", "resnet"], 2, ("--kinds", "resnet")),
    ("mk-conv-channels", ["metakan", "conv", "--out", "{new}", "--channels", "0,1"], 2, ("--channels",)),
    ("mk-conv-dataset", ["metakan", "conv", "--out", "{new}", "--dataset", "imagenet"], 2, ("--dataset",)),
    ("mk-pde-eq", ["metakan", "pde", "--out", "{new}", "--equations", "heat"], 2, ("--equations", "heat")),
    ("mk-pde-dims-neg", ["metakan", "pde", "--out", "{new}", "--dims", "-1"], 2, ("--dims",)),
    ("mk-pde-basis", ["metakan", "pde", "--out", "{new}", "--basis", "fourier"], 2, ("--basis",)),
    ("mk-pde-clusters-0", ["metakan", "pde", "--out", "{new}", "--clusters", "0"], 2, ("--clusters",)),
    ("mk-pde-lbfgs-neg", ["metakan", "pde", "--out", "{new}", "--lbfgs-steps", "-1"], 2, ("--lbfgs-steps",)),
    ("mk-memory-batch-0", ["metakan", "memory", "--out", "{new}", "--batch", "0"], 2, ("--batch",)),
    ("mk-memory-hiddens", ["metakan", "memory", "--out", "{new}", "--hiddens", "x"], 2, ("--hiddens",)),
    ("mk-out-file", ["metakan", "highdim", "--out", "{file}"], 2, ("--out",)),
    # kan demo
    ("demo-out-foreign", ["demo", "--quick", "--out", "{foreign}"], 2, ("--out", "mine.txt")),
    ("demo-out-file", ["demo", "--quick", "--out", "{file}"], 2, ("--out", "exists.json")),
    ("demo-threads-neg", ["demo", "--quick", "--out", "{new}", "--threads", "-1"], 2, ("--threads",)),
    ("demo-device", ["demo", "--quick", "--out", "{new}", "--device", "cpu:x"], 2, ("--device",)),
]

NO_CUDA_CASES = [
    ("info-device-cuda", ["info", "--device", "cuda"], 2, ("--device", "CUDA is not available")),
    (
        "build-device-cuda",
        ["zoo", "build", "sine-cpu", "--out", "{new}", "--device", "cuda"],
        2,
        ("--device", "CUDA"),
    ),
    (
        "train-device-cuda",
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}", "--device", "cuda"],
        2,
        ("--device", "CUDA"),
    ),
    ("demo-device-cuda", ["demo", "--quick", "--out", "{new}", "--device", "cuda"], 2, ("--device", "CUDA")),
]


@pytest.mark.parametrize(
    ("args", "code", "needles"),
    [pytest.param(a, c, n, id=i) for i, a, c, n in CLI_CASES]
    + [pytest.param(a, c, n, id=i, marks=no_cuda) for i, a, c, n in NO_CUDA_CASES],
)
def test_cli_bad_input(world, tmp_path, args, code, needles):
    places = {**world, "new": tmp_path / "new"}
    before = snapshot(world["root"], tmp_path)
    res = CliRunner().invoke(cli, _fill(args, places))
    _check(res, code, needles)
    assert snapshot(world["root"], tmp_path) == before  # nothing written, nothing lost


# ---------------------------------------------------------------------------------- broken zoo folders
def _set(path: str, value) -> Callable[[dict], None]:
    def mutate(m: dict) -> None:
        *keys, last = path.split("/")
        d = m
        for k in keys:
            d = d[int(k)] if isinstance(d, list) else d[k]
        d[int(last) if isinstance(d, list) else last] = value

    return mutate


def _delete(key: str) -> Callable[[dict], None]:
    return lambda m: m.pop(key)


# (id, manifest change, texts the message must contain)
MANIFEST_CASES = [
    ("missing-spec", _delete("spec"), ("'spec'",)),
    ("missing-shards", _delete("shards"), ("'shards'",)),
    ("missing-splits", _delete("splits"), ("'splits'",)),
    ("num-models-text", _set("num_models", "4"), ("'num_models'",)),
    ("num-models-wrong", _set("num_models", 5), ("num_models",)),
    ("split-out-of-range", _set("splits/test", [99]), ("splits['test']", "99")),
    ("split-negative", _set("splits/val", [-1]), ("splits['val']",)),
    ("split-repeats", _set("splits/train", [0, 0]), ("splits['train']", "repeats")),
    ("split-not-ints", _set("splits/train", ["a"]), ("splits['train']",)),
    ("shard-escapes", _set("shards/0/file", "../zoo/shard-00000.safetensors"), ("leaves the zoo folder",)),
    ("shard-absolute", _set("shards/0/file", "/etc/passwd"), ("shards[0]", "/etc/passwd")),
    ("shard-count-0", _set("shards/1/count", 0), ("shards[1]", "'count'")),
    ("shard-start", _set("shards/1/start", 5), ("shards[1]", "'start'")),
    ("shard-sha-not-hex", _set("shards/0/sha256", "zz"), ("shards[0]", "'sha256'")),
    ("shard-no-sha", lambda m: m["shards"][0].pop("sha256"), ("shards[0]", "'sha256'")),
    ("shard-twice", _set("shards/1/file", "shard-00000.safetensors"), ("listed twice",)),
    ("models-short", lambda m: m["models"].pop(), ("'models'",)),
    ("format", _set("format", "someone-else/3"), ("format",)),
    ("has-masks-type", _set("has_masks", "no"), ("'has_masks'",)),
    ("has-masks-wrong", _set("has_masks", True), ("'has_masks'",)),
    ("task-unknown", _set("task", "cats"), ("'task'", "cats")),
    ("targets-wrong", _set("targets", ["label"]), ("'targets'",)),
    ("spec-widths", _set("spec/widths", [2]), ("'spec'", "widths")),
    ("spec-grid-text", _set("spec/grid_size", "5"), ("'spec'", "grid_size")),
    ("not-object", lambda m: m.clear(), ("missing key",)),
]


def _broken_zoo(world, tmp_path, mutate) -> Path:
    zoo = tmp_path / "badzoo"
    shutil.copytree(world["zoo"], zoo)
    m = json.loads((zoo / "manifest.json").read_text())
    mutate(m)
    (zoo / "manifest.json").write_text(json.dumps(m))
    return zoo


@pytest.mark.parametrize(("mutate", "needles"), [pytest.param(f, n, id=i) for i, f, n in MANIFEST_CASES])
def test_verify_names_manifest_key(world, tmp_path, mutate, needles):
    zoo = _broken_zoo(world, tmp_path, mutate)
    before = snapshot(tmp_path)
    res = CliRunner().invoke(cli, ["zoo", "verify", str(zoo)])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert "manifest.json" in res.output and "OK" not in res.output, res.output
    for needle in needles:
        assert needle in res.output, res.output
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "command",
    [
        ["zoo", "info", "{zoo}"],
        ["ws", "train", "--task", "sine", "--zoo", "{zoo}", "--out", "{new}"],
        ["graph", "convert", "{zoo}"],
        ["graph", "align", "{zoo}", "--out", "{new}"],
    ],
    ids=["zoo-info", "ws-train", "graph-convert", "graph-align"],
)
@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        pytest.param(_set("splits/test", [99]), ("splits['test']",), id="split-range"),
        pytest.param(
            _set("shards/0/file", "../zoo/shard-00000.safetensors"), ("leaves the zoo folder",), id="escape"
        ),
        pytest.param(_delete("spec"), ("'spec'",), id="no-spec"),
    ],
)
def test_every_reader_validates_the_manifest(world, tmp_path, command, mutate, needles):
    zoo = _broken_zoo(world, tmp_path, mutate)
    before = snapshot(tmp_path)
    res = CliRunner().invoke(cli, _fill(command, {"zoo": zoo, "new": tmp_path / "new"}))
    _check(res, 1, (*needles, "manifest.json"))
    assert snapshot(tmp_path) == before


# (id, damage to shard 1, text)
def _flip(p: Path) -> None:
    raw = bytearray(p.read_bytes())
    raw[-10] ^= 0xFF
    p.write_bytes(bytes(raw))


def _nan_with_fresh_hash(p: Path) -> None:
    tensors, meta = load_tensors(p)
    tensors["layers.0.coef"][0, 0, 0, 0] = float("nan")
    save_tensors(p, tensors, meta)
    m = json.loads((p.parent / "manifest.json").read_text())
    m["shards"][1]["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    (p.parent / "manifest.json").write_text(json.dumps(m))


def _ties_with_fresh_hash(p: Path) -> None:
    tensors, meta = load_tensors(p)
    tensors["layers.1.grid"][0, 0, 4] = tensors["layers.1.grid"][0, 0, 3]
    save_tensors(p, tensors, meta)
    m = json.loads((p.parent / "manifest.json").read_text())
    m["shards"][1]["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    (p.parent / "manifest.json").write_text(json.dumps(m))


SHARD_CASES = [
    ("flipped-byte", _flip, ("shard-00001.safetensors", "SHA-256")),
    ("truncated", lambda p: p.write_bytes(p.read_bytes()[:100]), ("shard-00001.safetensors", "SHA-256")),
    ("missing", lambda p: p.unlink(), ("shard-00001.safetensors", "missing")),
    ("nan-rehashed", _nan_with_fresh_hash, ("shard-00001.safetensors", "layers.0.coef", "non-finite")),
    (
        "tied-knots-rehashed",
        _ties_with_fresh_hash,
        ("shard-00001.safetensors", "layers.1.grid", "degenerate"),
    ),
]


@pytest.mark.parametrize("reader", ["verify", "convert", "eval"])
@pytest.mark.parametrize(("damage", "needles"), [pytest.param(f, n, id=i) for i, f, n in SHARD_CASES])
def test_damaged_shards_are_named_by_every_reader(world, tmp_path, reader, damage, needles):
    zoo = tmp_path / "zoo"
    shutil.copytree(world["zoo"], zoo)
    damage(zoo / "shard-00001.safetensors")
    before = snapshot(tmp_path)
    command = {
        "verify": ["zoo", "verify", str(zoo)],
        "convert": ["graph", "convert", str(zoo)],
        "eval": ["ws", "eval", "--checkpoint", str(world["ckpt"]), "--zoo", str(zoo)],
    }[reader]
    res = CliRunner().invoke(cli, command)
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    for needle in needles:
        assert needle in res.output, res.output
    assert snapshot(tmp_path) == before


def test_verify_catches_plausible_values_changed_and_rehashed(world, tmp_path):
    """Finite, well-formed new values with a fresh manifest hash pass every content check; only the shard
    header's digest tells; `kan zoo verify` checks it (negative control: the intact copy verifies)."""
    zoo = tmp_path / "zoo"
    shutil.copytree(world["zoo"], zoo)
    assert CliRunner().invoke(cli, ["zoo", "verify", str(zoo)]).exit_code == 0
    p = zoo / "shard-00001.safetensors"
    tensors, meta = load_tensors(p)
    tensors["layers.0.coef"][0, 0, 0, 0] += 0.5
    save_tensors(p, tensors, meta)
    m = json.loads((zoo / "manifest.json").read_text())
    m["shards"][1]["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    (zoo / "manifest.json").write_text(json.dumps(m))
    res = CliRunner().invoke(cli, ["zoo", "verify", str(zoo)])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert "shard-00001.safetensors: content does not match the digest in its header" in res.output


# ------------------------------------------------------------------------------- the error boundary
def test_disk_full_is_one_line_and_leaves_no_partial_file(world, tmp_path, monkeypatch):
    import errno
    import os

    real_replace = os.replace

    def full(src, dst):
        if str(dst).endswith(".json"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full)
    out = tmp_path / "eval.json"
    res = CliRunner().invoke(
        cli, ["ws", "eval", "--checkpoint", str(world["ckpt"]), "--zoo", str(world["zoo"]), "--out", str(out)]
    )
    _check(res, 1, ("eval.json", "no space left on device"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(world, how, monkeypatch):
    args = ["zoo", "info", str(world["nomanifest"])]
    if how == "flag":
        args = ["--debug", *args]
    else:
        monkeypatch.setenv("KAN_DEBUG", "1")
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1
    assert type(res.exception).__name__ == "ZooError" and "no manifest" in str(res.exception)


def test_unexpected_error_is_one_line_with_a_hint(monkeypatch):
    import kan_core.runtime as runtime

    def boom() -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(runtime, "dist_env", boom)
    res = CliRunner().invoke(cli, ["info"])
    _check(res, 1, ("unexpected ZeroDivisionError", "a bug", "--debug", "KAN_DEBUG=1"))


# ------------------------------------------------------------------------- malformed result files
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {"task": "sine", "method": "mlp", "metrics": "oops"},
            "'metrics' must be an object of metric name -> number, got str",
        ),
        (
            {"task": "sine", "method": "mlp", "metrics": {"r2": "high"}},
            "metric 'r2' must be a number or null, got 'high'",
        ),
        ({"task": 3, "method": "mlp", "metrics": {}}, "'task' must be a string, got int"),
    ],
    ids=["metrics-text", "metric-text", "task-number"],
)
def test_ws_table_names_the_malformed_result_file(tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(content))
    res = CliRunner().invoke(cli, ["ws", "table", str(tmp_path)])
    assert res.exit_code == 1
    assert res.output == f"Error: {bad}: {message}\n"
