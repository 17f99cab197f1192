"""`alphamatte info`: what this install runs the model on."""

from __future__ import annotations

import platform
from pathlib import Path

import click

from alphamatte import __version__
from alphamatte.cli.options import engine_options, load_matter_or_exit


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@click.command("info")
@engine_options
def info(**engine: object) -> None:
    """Print the version, backend, device, precision and threads the model runs with."""
    from alphamatte.engine.backends import describe, openvino_installed

    matter = load_matter_or_exit(**engine)
    runtime = describe(matter.session)
    rows = {
        "alphamatte": __version__,
        "model": matter.spec.name,
        "backend": f"{runtime.backend} {runtime.version}",
        "device": f"{runtime.device} ({cpu_model()})",
        "precision": runtime.precision,
        "threads": str(runtime.threads),
        "quality": matter.config.quality,
        "max side": str(matter.config.max_side),
        "openvino installed": "yes" if openvino_installed() else "no",
    }
    width = max(len(k) for k in rows)
    for key, value in rows.items():
        click.echo(f"{key:<{width}}  {value}")
