"""The `vitdmg-cds` command line."""

from __future__ import annotations

import typer
import uvicorn
from rich.console import Console

from .app import create_app
from .settings import Settings

cli = typer.Typer(help="vitdmg-cds: CDS Hooks service for vitamin D and magnesium.", no_args_is_help=True)
console = Console(stderr=True)


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
) -> None:
    """Run the CDS Hooks service (discovery at /cds-services)."""
    settings = Settings()
    app = create_app(settings)
    console.print(
        f"[bold]vitdmg-cds[/] knowledge {app.state.knowledge.version}, profile {settings.profile}, "
        f"locale {settings.locale}: http://{host}:{port}/cds-services"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")


@cli.callback()
def _root() -> None:
    """vitdmg-cds."""


def main() -> None:
    cli()
