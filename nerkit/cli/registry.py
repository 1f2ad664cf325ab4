"""``nerkit registry``."""

from __future__ import annotations

from typing import Optional

import typer

from .common import friendly


@friendly
def registry_cmd(
    kind: Optional[str] = typer.Argument(None, help="One kind, e.g. decoders."),
    markdown: bool = typer.Option(
        False, "--markdown", help="Print the component reference as Markdown."
    ),
) -> None:
    """List registered components per kind, entry-point plugins included."""
    from .reference import list_components

    typer.echo(list_components(kind, markdown=markdown))
