"""``stockade image build|ls|inspect|tag``: the runner images in this machine's image store."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stockade.cli.human import human_size
from stockade.config import load_settings
from stockade.images.build import build_default_image
from stockade.images.store import ImageStore

image_app = typer.Typer(no_args_is_help=True, help="Build and list runner images.")
console = Console()


def register(app: typer.Typer) -> None:
    """Add the ``image`` command group to the root app."""
    app.add_typer(image_app, name="image")


def _store() -> ImageStore:
    return ImageStore(load_settings().images_dir)


@image_app.command("build")
def build(
    name: str = typer.Option("default", "--name", help="Name to point at the built image."),
    source_date_epoch: int | None = typer.Option(
        None,
        "--source-date-epoch",
        help="Timestamp of every file and of the image (default: $SOURCE_DATE_EPOCH, else now).",
    ),
    force: bool = typer.Option(
        False, "--force", help="Rebuild even when the recipe and the archive are unchanged."
    ),
) -> None:
    """Build the default runner image (Debian bookworm minbase + CI tools) into the store."""
    store = _store()
    if console.is_terminal:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("starting", total=1.0)

            def show(message: str, fraction: float | None) -> None:
                bar.update(task, description=message, completed=fraction or 0.0)

            record = build_default_image(
                store, source_date_epoch=source_date_epoch, progress=show, name=name, force=force
            )
    else:
        # Logs (CI, `make image`) get one line per stage instead of a redrawn bar.
        last = [""]

        def log_stage(message: str, fraction: float | None) -> None:
            if message != last[0]:
                last[0] = message
                percent = f"{fraction * 100:3.0f}%" if fraction is not None else "   -"
                console.print(f"{percent} {message}", highlight=False)

        record = build_default_image(
            store, source_date_epoch=source_date_epoch, progress=log_stage, name=name, force=force
        )
    console.print(f"{record.name} [bold]{record.digest}[/]", highlight=False)
    console.print(
        f"created {record.created}, {human_size(record.size)}, {len(record.packages)} packages",
        highlight=False,
    )


@image_app.command("ls")
def list_images(
    packages: bool = typer.Option(False, "--packages", help="Also list each image's packages."),
) -> None:
    """List the stored images: name, digest, creation time and size."""
    records = _store().list()
    table = Table(box=None, header_style="bold")
    table.add_column("NAME", no_wrap=True)
    table.add_column("DIGEST", no_wrap=True, min_width=71)  # a digest is only useful whole
    table.add_column("CREATED", no_wrap=True)
    table.add_column("SIZE", no_wrap=True, justify="right")
    for record in records:
        table.add_row(record.name or "<none>", record.digest, record.created,
                      human_size(record.size))
    # Piped output gets the whole digest too (Rich would cut it to 80 columns).
    out = console if console.is_terminal else Console(width=160)
    out.print(table)
    if packages:
        for record in records:
            out.print(f"\n[bold]{record.name or record.digest}[/]")
            for package, version in record.packages:
                out.print(f"  {package} {version}", highlight=False)


@image_app.command("tag")
def tag(
    ref: str = typer.Argument(..., help="Image name or sha256:<hex> digest."),
    name: str = typer.Argument(..., help="Name to point at it (moved if it exists)."),
) -> None:
    """Point a name at a stored image."""
    record = _store().point(name, ref)
    console.print(f"{record.name} -> [bold]{record.digest}[/]", highlight=False)


@image_app.command("inspect")
def inspect(ref: str = typer.Argument(..., help="Image name or sha256:<hex> digest.")) -> None:
    """Print one image's record as JSON (digest, creation time, size, package versions)."""
    store = _store()
    record = store.resolve(ref)
    body = asdict(record) | {"rootfs": str(store.rootfs_dir / record.digest.split(":")[1])}
    body["packages"] = {package: version for package, version in record.packages}
    typer.echo(json.dumps(body, indent=2))
