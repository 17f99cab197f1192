"""alphamatte's engine against rembg on the same IS-Net weights, on the real eval photos.

rembg (`pip install "rembg[cpu]"`) runs the published fp16 graph through its `dis_custom`
session; alphamatte runs its prepared graph with the shipped `fast` pipeline. Each photo goes
through A then B, then B then A in the next round, so machine noise hits both alike. Both are
timed from the encoded file to the full-size matte. The same run also measures what our
inference achieves in GFLOP/s against a NumPy fp32 matmul ceiling on this machine:

    .venv/bin/python benchmarks/speed.py [--rounds 2] [--dataset ../shared/eval]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import shape_inference
from PIL import Image

from alphamatte.config import default_home, default_models_dir
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.inference.matting import Matter, MattingConfig, normalise
from alphamatte.engine.loader import load_matter
from alphamatte.eval.dataset import discover, first_of_each_source, load_pair
from alphamatte.eval.metrics import sad
from alphamatte.imaging.decode import decode
from alphamatte.product.matte import run_matting

Predict = Callable[[bytes], np.ndarray]


def conv_macs(model_path: Path) -> int:
    """Multiply-adds of every Conv at the published graph's fixed 1024 x 1024 input."""
    model = shape_inference.infer_shapes(onnx.load(str(model_path)))
    shapes = {
        info.name: [d.dim_value for d in info.type.tensor_type.shape.dim]
        for info in [*model.graph.value_info, *model.graph.output]
    }
    weights = {init.name: init for init in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        kernel = weights[node.input[1]].dims
        out = shapes[node.output[0]]
        total += int(np.prod(out)) * kernel[1] * kernel[2] * kernel[3]
    return total


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    b = np.random.default_rng(1).random((size, size), dtype=np.float32)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def inference_seconds(matter: Matter, repeats: int = 3) -> float:
    side = matter.canvas_side()
    canvas = np.full((1, side, side, 3), matter.spec.input.pad, np.uint8)
    batch = normalise(canvas, matter.spec)
    matter.session.run(batch)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matter.session.run(batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rembg_predictor(model_path: Path) -> Predict:
    os.environ.setdefault("REMBG_HOME", str(model_path.parent))
    from rembg import new_session, remove

    session = new_session("dis_custom", model_path=str(model_path))

    def predict(data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as image:
            mask = remove(image.convert("RGB"), session=session, only_mask=True)
        return np.asarray(mask)

    return predict


def alphamatte_predictor(matter: Matter) -> Predict:
    def predict(data: bytes) -> np.ndarray:
        image = decode(data)
        return run_matting(image, matter).stored_matte(image.orientation)

    return predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/eval"))
    parser.add_argument(
        "--sides",
        type=int,
        nargs="+",
        default=[1024, 768],
        help="ALPHAMATTE_MAX_SIDE values to run alphamatte at (1024 is the default)",
    )
    parser.add_argument("--limit", type=int, default=0, help="photos per source (0: all)")
    args = parser.parse_args()
    pairs = [p for p in discover(args.dataset) if not p.composite]
    pairs = first_of_each_source(pairs, args.limit) if args.limit else pairs
    model_path = default_home() / "models" / ISNET.filename
    matter = load_matter(directory=default_models_dir())
    engines: dict[str, Predict] = {"rembg dis_custom": rembg_predictor(model_path)}
    for side in args.sides:
        at_side = Matter(matter.session, matter.spec, MattingConfig(max_side=side))
        engines[f"alphamatte fast, max side {side}"] = alphamatte_predictor(at_side)
    photos = [(p.image.read_bytes(), load_pair(p)[1].astype(np.float32) / 255) for p in pairs]
    for predict in engines.values():  # warm-up: sessions, allocators, numba
        predict(photos[0][0])
    seconds = {name: 0.0 for name in engines}
    sads: dict[str, list[float]] = {name: [] for name in engines}
    order = list(engines)
    for round_index in range(args.rounds):
        for data, gt in photos:
            for name in order if round_index % 2 == 0 else order[::-1]:
                start = time.perf_counter()
                matte = engines[name](data)
                seconds[name] += time.perf_counter() - start
                if round_index == 0:
                    sads[name].append(sad(matte.astype(np.float32) / 255, gt))
    count = len(photos) * args.rounds
    print(f"{len(photos)} real photos x {args.rounds} rounds, alternating A/B\n")
    print("| engine | images/s | s/image | mean SAD |")
    print("|---|---|---|---|")
    for name in engines:
        print(
            f"| {name} | {count / seconds[name]:.2f} | {seconds[name] / count:.3f} | "
            f"{statistics.mean(sads[name]):.2f} |"
        )
    base = "rembg dis_custom"
    for ours in list(engines)[1:]:
        print(
            f"{ours}: throughput {seconds[base] / seconds[ours]:.2f}x rembg; "
            f"SAD {statistics.mean(sads[ours]) / statistics.mean(sads[base]):.2f}x rembg's"
        )
    macs = conv_macs(model_path)
    infer = inference_seconds(matter)
    ceiling = matmul_gflops()
    achieved = 2 * macs / infer / 1e9
    print(
        f"\nConv work at 1024x1024: {macs / 1e9:.1f} G multiply-adds. One inference: {infer:.2f} s"
        f" = {achieved:.0f} GFLOP/s (Conv only); NumPy fp32 matmul ceiling here: "
        f"{ceiling:.0f} GFLOP/s; {achieved / ceiling:.0%} of it."
    )


if __name__ == "__main__":
    main()
