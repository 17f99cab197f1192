"""A phone's HEIC against the same photo as a JPEG of similar size: whole requests to a real
server on loopback (upload, decode, model, PNG), side by side in one run, and what each decode
adds to the process's memory against what memory admission reserves for it.

Each photo of ``--photos`` (the largest real photos of ../shared/eval by default) is written as
a JPEG (quality 90) and a HEIC at the quality that gives about the JPEG's bytes, with a Display
P3-like wide-gamut profile on both (the decode's colour conversion is part of what a phone photo
costs). Requests alternate JPEG, HEIC, HEIC, JPEG for ``--rounds``; medians are compared.

    .venv/bin/python benchmarks/phone_formats.py [--photos 3] [--rounds 4] [--max-side 1600]
"""

from __future__ import annotations

import argparse
import io
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pillow_heif
from PIL import Image

from alphamatte.config import Settings
from alphamatte.server.admission import BYTES_PER_PIXEL
from alphamatte.server.loopback import serving

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.one_photo import cpu_line

pillow_heif.register_heif_opener()
EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval" / "icm58_hires" / "images"
MB = 1024 * 1024


def wide_gamut_profile() -> bytes:
    """A wide-gamut RGB profile to embed (the test suite's Display P3 writer)."""
    from tests.colour_samples import display_p3

    return display_p3()


def photos(count: int, max_side: int) -> list[tuple[str, np.ndarray]]:
    paths = sorted(EVAL.iterdir(), key=lambda p: -Image.open(p).size[0] * Image.open(p).size[1])
    chosen = []
    for path in paths[:count]:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
            if max_side and max(rgb.size) > max_side:
                rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            chosen.append((path.stem, np.asarray(rgb)))
    return chosen


def encode(rgb: np.ndarray, fmt: str, quality: int, icc: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt, quality=quality, icc_profile=icc)
    return buffer.getvalue()


def heic_like(rgb: np.ndarray, target: int, icc: bytes) -> tuple[bytes, int]:
    """The HEIC whose size is closest to ``target`` bytes, and its quality."""
    best: tuple[bytes, int] | None = None
    for quality in (50, 60, 70, 80, 90):
        data = encode(rgb, "HEIF", quality, icc)
        if best is None or abs(len(data) - target) < abs(len(best[0]) - target):
            best = data, quality
    assert best is not None
    return best


DECODE_PEAK = """
import sys
from alphamatte.imaging.decode import decode_local

def kib(field):
    for line in open('/proc/self/status'):
        if line.startswith(field):
            return int(line.split()[1])

data = open(sys.argv[1], 'rb').read()
open('/proc/self/clear_refs', 'w').write('5')  # the peak (VmHWM) starts again from here
before = kib('VmRSS:')
decoded = decode_local(data)
seen = decoded.upright_srgb()
print(kib('VmHWM:') - before)
"""


def decode_peak_mb(data: bytes) -> float:
    """Peak RSS a fresh process adds while decoding ``data`` (and rendering it to sRGB): the
    high-water mark is reset just before the decode (Linux's clear_refs)."""
    with tempfile.NamedTemporaryFile(suffix=".img") as handle:
        handle.write(data)
        handle.flush()
        ran = subprocess.run(
            [sys.executable, "-c", DECODE_PEAK, handle.name],
            capture_output=True,
            text=True,
            check=True,
        )
    return int(ran.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--max-side", type=int, default=0, help="shrink photos first (0: keep)")
    args = parser.parse_args()
    icc = wide_gamut_profile()
    print(f"CPU: {cpu_line()}")
    with tempfile.TemporaryDirectory() as home:
        (Path(home) / "models").symlink_to(Path.home() / ".cache" / "alphamatte" / "models")
        settings = Settings(
            home=Path(home), backend="onnxruntime", rate_limit="100000/minute", result_cache_mb=0
        )
        with serving(settings) as live:
            key = live.new_key(credits=100_000)

            def request(data: bytes) -> float:
                start = time.perf_counter()
                answer = httpx.post(
                    f"{live.url}/v1.0/alpha-channel",
                    files={"file": ("photo", data)},
                    headers={"X-API-Key": key},
                    timeout=600,
                )
                assert answer.status_code == 200, answer.text
                return time.perf_counter() - start

            print(
                "\n| photo | size | JPEG kB | HEIC kB (q) | JPEG s | HEIC s | HEIC/JPEG |"
                " decode MB JPEG | decode MB HEIC | admitted MB |"
            )
            print("|---|---|---|---|---|---|---|---|---|---|")
            ratios = []
            for name, rgb in photos(args.photos, args.max_side):
                jpeg = encode(rgb, "JPEG", 90, icc)
                heic, quality = heic_like(rgb, len(jpeg), icc)
                request(jpeg)  # warm the path for this size
                times: dict[str, list[float]] = {"jpeg": [], "heic": []}
                for _ in range(args.rounds):
                    for label in ("jpeg", "heic", "heic", "jpeg"):
                        times[label].append(request(jpeg if label == "jpeg" else heic))
                j, h = statistics.median(times["jpeg"]), statistics.median(times["heic"])
                ratios.append(h / j)
                height, width = rgb.shape[:2]
                admitted = width * height * BYTES_PER_PIXEL["alpha"] / MB
                print(
                    f"| {name} | {width}x{height} | {len(jpeg) / 1024:.0f} | "
                    f"{len(heic) / 1024:.0f} ({quality}) | {j:.2f} | {h:.2f} | {h / j:.2f}x | "
                    f"{decode_peak_mb(jpeg):.0f} | {decode_peak_mb(heic):.0f} | "
                    f"{admitted:.0f} |"
                )
            print(f"\nmedian HEIC/JPEG, whole request: {statistics.median(ratios):.2f}x")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"benchmark process peak RSS: {usage.ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
