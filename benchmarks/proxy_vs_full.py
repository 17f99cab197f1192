"""The SDK's proxy workflow against uploading the full-resolution photo, through a live server.

A 4000 x 3000 JPEG (a real eval photo enlarged with Lanczos) is matted both ways by the real
model behind a loopback server; the table shows bytes up, bytes down and wall time, side by side,
alternating the two so that machine noise hits both alike. Run from the repo root:

    .venv/bin/python benchmarks/proxy_vs_full.py [--rounds 3] [--photo GT18]
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from alphamatte.client import Client
from alphamatte.config import Settings, default_home
from alphamatte.server.loopback import serving

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"


class Counting(httpx.HTTPTransport):
    """Counts request and response body bytes as they go over the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.up = 0
        self.down = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        self.up += len(request.content)
        self.down += len(response.content)
        return response


def test_photo(name: str) -> bytes:
    source = Image.open(EVAL / "alphamatting_lowres" / "images" / f"{name}.png").convert("RGB")
    big = source.resize((4000, 3000), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    big.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def full_upload(url: str, key: str, photo: bytes, transport: Counting) -> np.ndarray:
    """What a client without the SDK does: send everything, take the full-size matte back."""
    with httpx.Client(base_url=url, transport=transport, timeout=300) as http:
        response = http.post(
            "/v1.0/alpha-channel-base64",
            headers={"X-API-Key": key},
            json={"image_base64": base64.b64encode(photo).decode()},
        )
    response.raise_for_status()
    png = base64.b64decode(response.json()["alpha_base64"])
    return np.asarray(Image.open(io.BytesIO(png)))


def sdk(url: str, key: str, photo: bytes, transport: Counting) -> np.ndarray:
    with Client(key, url, transport=transport) as client:
        return np.asarray(client.alpha_matte(photo))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--photo", default="GT18")
    args = parser.parse_args()
    photo = test_photo(args.photo)
    print(f"photo: {args.photo} enlarged to 4000x3000, JPEG {len(photo) / 1e6:.2f} MB")
    results: dict[str, list[tuple[int, int, float]]] = {"full upload": [], "SDK proxy": []}
    mattes: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "models").symlink_to(default_home() / "models")
        with serving(Settings(home=Path(tmp), rate_limit="1000/minute")) as server:
            key = server.new_key(credits=1000)
            for _ in range(args.rounds):
                for name, run in (("full upload", full_upload), ("SDK proxy", sdk)):
                    counter = Counting()
                    start = time.perf_counter()
                    mattes[name] = run(server.url, key, photo, counter)
                    results[name].append((counter.up, counter.down, time.perf_counter() - start))
    print(f"\n| workflow | bytes up | bytes down | wall s (median of {args.rounds}) |")
    print("|---|---|---|---|")
    for name, rows in results.items():
        up, down = rows[0][0], rows[0][1]
        wall = statistics.median(r[2] for r in rows)
        print(f"| {name} | {up / 1e6:.2f} MB | {down / 1e6:.3f} MB | {wall:.2f} |")
    full, proxy = results["full upload"], results["SDK proxy"]
    wall_ratio = statistics.median(r[2] for r in proxy) / statistics.median(r[2] for r in full)
    print(
        f"\nSDK / full: bytes up {proxy[0][0] / full[0][0]:.3f}x, "
        f"bytes down {proxy[0][1] / full[0][1]:.3f}x, wall {wall_ratio:.2f}x"
    )
    diff = np.abs(mattes["full upload"].astype(int) - mattes["SDK proxy"].astype(int))
    print(f"matte difference (SDK vs full): mean {diff.mean():.2f} / 255, both 4000x3000")


if __name__ == "__main__":
    main()
