"""An in-process stand-in for the API behind httpx.MockTransport, recording what it was sent."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field

import httpx
import numpy as np
from PIL import Image


@dataclass
class MockApi:
    """Answers the matte endpoint with a bright-pixel matte of whatever proxy it receives."""

    statuses: list[int] = field(default_factory=list)  # served first, one per request
    requests: list[httpx.Request] = field(default_factory=list)
    uploads: list[Image.Image] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.statuses:
            status = self.statuses.pop(0)
            headers = {"Retry-After": "3"} if status == 429 else {}
            return httpx.Response(status, json={"detail": f"status {status}"}, headers=headers)
        if request.url.path == "/available-credit":
            return httpx.Response(
                200, json={"credit": 41, "expiration_date": "2027-01-31 00:00:00"}
            )
        body = json.loads(request.content)
        upload = Image.open(io.BytesIO(base64.b64decode(body["image_base64"])))
        upload.load()
        self.uploads.append(upload)
        matte = (np.asarray(upload.convert("L")) > 128).astype(np.uint8) * 255
        buffer = io.BytesIO()
        Image.fromarray(matte, mode="L").save(buffer, format="PNG")
        return httpx.Response(
            200, json={"alpha_base64": base64.b64encode(buffer.getvalue()).decode()}
        )

    @property
    def matte_calls(self) -> int:
        return sum(1 for r in self.requests if r.url.path.startswith("/v1.0/"))
