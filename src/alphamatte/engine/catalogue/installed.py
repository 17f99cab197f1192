"""Models a user imported: described in TOML beside their weights (``NAME.model.toml``), run
under the contracts of the model or family they are ``like``."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

from alphamatte.engine.catalogue.contract import contract_from
from alphamatte.engine.catalogue.entries import CATALOGUE, REGISTRY
from alphamatte.engine.catalogue.families import FAMILIES, ISNET_IN, ISNET_OUT
from alphamatte.engine.catalogue.spec import GENERIC, ModelSpec

SPEC_SUFFIX = ".model.toml"  # an imported model's description, beside its weights


def like(name_or_family: str) -> ModelSpec:
    """The catalogue entry (or the first of the family) whose contracts ``--like`` borrows."""
    if name_or_family in REGISTRY:
        return REGISTRY[name_or_family]
    for spec in CATALOGUE:
        if spec.family == name_or_family:
            return spec
    known = sorted({*REGISTRY, *FAMILIES})
    raise KeyError(f"no model or family {name_or_family!r}; known: {', '.join(known)}")


def imported_model(
    name: str, filename: str, base: ModelSpec, *, sha256: str | None, size: int | None
) -> ModelSpec:
    """A user's file run under ``base``'s contracts (``--like``), pinned to what was imported."""
    return replace(
        base,
        name=name,
        filename=filename,
        source=None,
        size=size,
        sha256=sha256,
        mirrors=(),
        description=f"imported, like {base.name}",
        # Our IS-Net graph rewrites fit only that export; a re-export is run as published.
        preparation=GENERIC,
        strength=0,
    )


def custom_model(filename: str, *, input_size: int = 1024) -> ModelSpec:
    """A user-supplied ONNX file in the model cache with no description: IS-Net's contract."""
    return ModelSpec(
        name=f"file:{filename}",
        filename=filename,
        source=None,
        size=None,
        sha256=None,
        input=replace(ISNET_IN, side=input_size),
        output=ISNET_OUT,
        family="isnet",
        description="user-supplied ONNX file (IS-Net's contract assumed)",
    )


def spec_from_toml(text: str, *, filename: str | None = None) -> ModelSpec:
    """A model described in TOML: ``name``, optional ``like`` (a model or family whose
    contracts are the starting point), ``file``, ``sha256``, ``size``, ``licence``,
    ``commercial``, ``price``, and ``[input]`` / ``[output]`` tables of contract fields."""
    data = tomllib.loads(text)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("a model description needs a name")
    base = like(str(data.get("like", "isnet")))
    known = {"name", "like", "file", "sha256", "size", "licence", "commercial", "price"}
    unknown = sorted(set(data) - known - {"input", "output", "description"})
    if unknown:
        raise ValueError(f"unknown field(s) in the model description: {', '.join(unknown)}")
    spec = imported_model(
        name,
        filename or str(data.get("file", f"{name}.onnx")),
        base,
        sha256=data.get("sha256"),
        size=data.get("size"),
    )
    input_contract = contract_from(data.get("input", {}), spec.input)
    output_contract = contract_from(data.get("output", {}), spec.output)
    return replace(
        spec,
        input=input_contract,  # type: ignore[arg-type]
        output=output_contract,  # type: ignore[arg-type]
        licence=str(data.get("licence", spec.licence)),
        commercial=bool(data.get("commercial", spec.commercial)),
        price=int(data.get("price", spec.price)),
        description=str(data.get("description", spec.description)),
    )


def spec_to_toml(spec: ModelSpec) -> str:
    """The TOML :func:`spec_from_toml` reads back into ``spec``'s contracts and pins."""

    def value(item: object) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int | float):
            return repr(item)
        if isinstance(item, tuple):
            return "[" + ", ".join(value(v) for v in item) + "]"
        return '"' + str(item).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"name = {value(spec.name)}", f"like = {value(spec.family or 'isnet')}"]
    lines.append(f"file = {value(spec.filename)}")
    if spec.sha256:
        lines.append(f"sha256 = {value(spec.sha256)}")
    if spec.size:
        lines.append(f"size = {spec.size}")
    lines += [
        f"licence = {value(spec.licence)}",
        f"commercial = {value(spec.commercial)}",
        f"price = {spec.price}",
        f"description = {value(spec.description)}",
    ]
    for table, contract in (("input", spec.input), ("output", spec.output)):
        lines.append(f"\n[{table}]")
        lines += [f"{k} = {value(v)}" for k, v in vars(contract).items()]
    return "\n".join(lines) + "\n"


def installed_spec(name: str, directory: Path) -> ModelSpec | None:
    """An imported model's description in ``directory`` (``NAME.model.toml``), if any."""
    path = directory / f"{name}{SPEC_SUFFIX}"
    if not path.is_file():
        return None
    return spec_from_toml(path.read_text())


def installed_specs(directory: Path) -> list[ModelSpec]:
    """Every imported model described in ``directory``."""
    found = []
    for path in sorted(directory.glob(f"*{SPEC_SUFFIX}")):
        try:
            found.append(spec_from_toml(path.read_text()))
        except (ValueError, OSError, tomllib.TOMLDecodeError):
            continue
    return found
