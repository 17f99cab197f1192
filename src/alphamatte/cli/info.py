"""`alphamatte info`: what this install runs the model on."""

from __future__ import annotations

import click

from alphamatte import __version__
from alphamatte.cli.options import engine_options, load_matter_or_exit


@click.command("info")
@engine_options
def info(**engine: object) -> None:
    """Print the version, backend, device, precision and threads the model runs with."""
    from alphamatte.engine.runtimes.backends import describe
    from alphamatte.engine.runtimes.openvino import openvino_installed
    from alphamatte.engine.runtimes.selection import BUDGET, CANVASES, cpu_model

    matter = load_matter_or_exit(**engine)
    runtime = describe(matter.session)
    rows = {
        "alphamatte": __version__,
        "model": matter.spec.name,
        "backend": f"{runtime.backend} {runtime.version}",
        "device": f"{runtime.device} ({cpu_model()})",
        "precision": runtime.precision,
        "threads": str(runtime.threads),
        "max side": str(matter.config.max_side),
        "openvino installed": "yes" if openvino_installed() else "no",
    }
    chosen = matter.selection
    if chosen is not None:
        rows["chosen because"] = chosen.reason
    width = max(len(k) for k in rows)
    for key, value in rows.items():
        click.echo(f"{key:<{width}}  {value}")
    if chosen is not None and chosen.trials:
        click.echo(
            f"\nmeasured {chosen.measured_at}: seconds for {len(CANVASES)} canvases "
            f"({', '.join(f'{side}²' for side in CANVASES)}), mean |matte - f32's| on them, "
            f"within the precision budget ({BUDGET}x f32's SAD and gradient)"
        )
        click.echo(f"{'candidate':<18} {'seconds':>8} {'vs f32':>8} {'budget':>6}  note")
        for trial in chosen.trials:
            seconds = "-" if trial.seconds is None else f"{trial.seconds:.3f}"
            agreement = "-" if trial.agreement is None else f"{trial.agreement:.4f}"
            budget = "yes" if trial.within_budget else "no"
            click.echo(
                f"{trial.candidate:<18} {seconds:>8} {agreement:>8} {budget:>6}  {trial.note}"
            )
