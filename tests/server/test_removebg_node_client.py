"""A real remove.bg client from npm (``remove.bg`` 1.3.0, installed by ``make clients``), run by
Node against the live server. Its endpoint is a constant in its code: a copy of that file with
the constant read from the environment is the one thing changed."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import image_bytes
from tests.server.live import LiveServer
from tests.server.test_removebg import HEIGHT, PHOTO, WIDTH, decode
from tests.services import missing

MODULES = Path(__file__).resolve().parents[1] / "clients" / "node" / "node_modules"
CONSTANT = 'const API_ENDPOINT = "https://api.remove.bg/v1.0/removebg";'

SCRIPT = """
const client = require(process.env.CLIENT);
const run = async (name, call) => {
  try { const r = await call(); return [name, {ok: r}]; }
  catch (e) { return [name, {error: e}]; }
};
(async () => {
  const key = process.env.KEY;
  const results = await Promise.all([
    run("file", () => client.removeBackgroundFromImageFile(
      {path: process.env.PHOTO, apiKey: key, size: "regular", outputFile: process.env.OUT})),
    run("base64", () => client.removeBackgroundFromImageBase64(
      {base64img: process.env.B64, apiKey: key, size: "full", crop: true, bg_color: "00ff00"})),
    run("bad_key", () => client.removeBackgroundFromImageFile(
      {path: process.env.PHOTO, apiKey: "am_wrong"})),
    run("url", () => client.removeBackgroundFromImageUrl(
      {url: "http://127.0.0.1:9/photo.jpg", apiKey: key})),
  ]);
  console.log(JSON.stringify(Object.fromEntries(results)));
})();
"""


@pytest.fixture
def node_client(tmp_path: Path) -> Path:
    node = shutil.which("node")
    if node is None or not (MODULES / "remove.bg").is_dir():
        missing("node and the npm remove.bg client (make clients)")
    source = (MODULES / "remove.bg" / "dist" / "index.js").read_text()
    assert CONSTANT in source  # the installed client is the one this test was written for
    patched = tmp_path / "removebg-client.js"
    patched.write_text(
        source.replace(CONSTANT, "const API_ENDPOINT = process.env.REMOVEBG_ENDPOINT;")
    )
    return patched


def test_the_npm_client_works_with_only_its_endpoint_changed(
    live: LiveServer, node_client: Path, tmp_path: Path
) -> None:
    key = live.new_key(credits=3)
    photo = tmp_path / "shoe.png"
    photo.write_bytes(PHOTO)
    env = {
        **os.environ,
        "NODE_PATH": str(MODULES),
        "CLIENT": str(node_client),
        "REMOVEBG_ENDPOINT": f"{live.url}/v1.0/removebg",
        "KEY": key,
        "PHOTO": str(photo),
        "OUT": str(tmp_path / "out.png"),
        "B64": base64.b64encode(PHOTO).decode(),
    }
    ran = subprocess.run(
        ["node", "-e", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    results = json.loads(ran.stdout)
    # Its default sends multipart fields, type=auto and crop=false; size "regular" is 0.25 MP.
    uploaded = results["file"]["ok"]
    assert uploaded["creditsCharged"] == "0.25"
    saved = decode((tmp_path / "out.png").read_bytes())
    assert saved.mode == "RGBA" and saved.width * saved.height <= 250_000
    assert (str(saved.width), str(saved.height)) == (
        uploaded["resultWidth"],
        uploaded["resultHeight"],
    )
    assert uploaded["rateLimit"] and uploaded["rateLimitRemaining"]
    # JSON body with crop and a background colour, size full: a JPEG of the cropped subject.
    cropped = results["base64"]["ok"]
    assert cropped["creditsCharged"] == "1"
    shot = decode(base64.b64decode(cropped["base64img"]))
    assert shot.format == "JPEG" and shot.width < WIDTH and shot.height < HEIGHT
    # Errors come back as remove.bg's list, which the client hands over as they are.
    assert results["bad_key"]["error"][0]["code"] == "auth_failed"
    assert results["url"]["error"][0]["code"] == "url_fetch_disabled"


STREAMING = """
const client = require(process.env.CLIENT);
client.removeBackgroundFromImageFile({path: process.env.PHOTO, apiKey: process.env.KEY})
  .then(() => console.log(JSON.stringify({ok: true})))
  .catch((e) => console.log(JSON.stringify({error: e})));
"""


@pytest.mark.parametrize("refusal", ["bad_key", "rate_limited"])
def test_the_npm_client_streaming_a_large_file_is_not_left_hanging(
    live: LiveServer, node_client: Path, tmp_path: Path, refusal: str
) -> None:
    """The client pipes the file and stops once it has an answer: an early 403 or 429 must
    close the connection, or it waits forever for the server to read the rest."""
    noise = np.random.default_rng(7).integers(0, 256, (1_700, 1_700, 3), np.uint8)
    photo = tmp_path / "large.png"
    photo.write_bytes(image_bytes(Image.fromarray(noise), "PNG"))  # ~8.7 MB
    key = "am_not_a_key"
    if refusal == "rate_limited":
        key = live.new_key(credits=3, removebg_rate_limit="1/minute")
        small = tmp_path / "small.png"
        small.write_bytes(PHOTO)
        env = {**_env(live, node_client, key), "PHOTO": str(small)}
        subprocess.run(["node", "-e", STREAMING], env=env, timeout=60, check=True)
    env = {**_env(live, node_client, key), "PHOTO": str(photo)}
    ran = subprocess.run(
        ["node", "-e", STREAMING], env=env, capture_output=True, text=True, timeout=30
    )
    error = json.loads(ran.stdout)["error"]
    code = "auth_failed" if refusal == "bad_key" else "rate_limit_exceeded"
    assert error[0]["code"] == code


def _env(live: LiveServer, node_client: Path, key: str) -> dict[str, str]:
    return {
        **os.environ,
        "NODE_PATH": str(MODULES),
        "CLIENT": str(node_client),
        "REMOVEBG_ENDPOINT": f"{live.url}/v1.0/removebg",
        "KEY": key,
    }
