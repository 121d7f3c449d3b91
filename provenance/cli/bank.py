"""``provaudit bank``: hash banks (HMA-shaped) on the registry the service uses.

Only typer is imported at module level; the registry, FAISS and the hashing libraries
load when a subcommand runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from provenance.cli.options import JsonOption

if TYPE_CHECKING:
    from provenance.store import FingerprintStore

app = typer.Typer(no_args_is_help=True, rich_markup_mode="rich")

RegistryOption = Annotated[
    str | None,
    typer.Option(
        "--registry",
        help="SQLAlchemy URL of the registry (default: PROVAUDIT_DATABASE_URL, else the "
        "SQLite file in your data directory, which `provaudit serve` uses too).",
        show_default=False,
    ),
]


@app.callback()
def bank() -> None:
    """Banks of PDQ / pHash hashes: create, add, browse, remove, look up (matches per bank
    with distances and each item's metadata), and act on matches (webhooks)."""


def _open(registry: str | None) -> FingerprintStore:
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import fail
    from provenance.errors import ProvauditError
    from provenance.store import FingerprintStore

    try:
        return FingerprintStore.open(registry)
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.ERROR)
    except Exception as exc:  # a URL SQLAlchemy cannot parse or whose driver is missing
        if os.environ.get("PROVAUDIT_DEBUG"):
            raise
        fail(f"The registry cannot be opened ({type(exc).__name__}: {exc}).", ExitStatus.ERROR)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Bank name: letters, digits, '_', '.', '-'.")],
    pdq_threshold: Annotated[
        int, typer.Option(help="Largest PDQ distance (of 256 bits) that is a match.")
    ] = 31,
    phash_threshold: Annotated[
        int, typer.Option(help="Largest pHash distance (of 64 bits) that is a match.")
    ] = 10,
    description: Annotated[str | None, typer.Option(help="What the bank holds.")] = None,
    registry: RegistryOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create a bank with its own match thresholds."""
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import emit_json, fail, stdout
    from provenance.errors import ProvauditError

    store = _open(registry)
    try:
        info = store.banks.create_bank(
            name,
            pdq_threshold=pdq_threshold,
            phash_threshold=phash_threshold,
            description=description,
        )
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.ERROR)
    finally:
        store.close()
    if json_output:
        emit_json(info.to_dict())
    else:
        stdout().print(
            f"Created bank {info.name} (PDQ threshold {info.pdq_threshold}, "
            f"pHash threshold {info.phash_threshold})"
        )


@app.command("list")
def list_banks(registry: RegistryOption = None, json_output: JsonOption = False) -> None:
    """The banks, their thresholds and how much content each holds."""
    from provenance.cli.output import emit_json, stdout

    store = _open(registry)
    try:
        banks = store.banks.banks()
    finally:
        store.close()
    if json_output:
        emit_json([info.to_dict() for info in banks])
        return
    out = stdout()
    if not banks:
        out.print("No banks yet (provaudit bank create NAME).")
    for info in banks:
        out.print(
            f"{info.name}  content={info.content_count}  pdq_threshold={info.pdq_threshold}"
            f"  phash_threshold={info.phash_threshold}"
            + (f"  {info.description}" if info.description else "")
        )


@app.command("add")
def add(
    bank_name: Annotated[str, typer.Argument(metavar="BANK", help="The bank to add to.")],
    files: Annotated[
        list[Path] | None,
        typer.Argument(metavar="[FILE]...", help="Images to hash and add.", show_default=False),
    ] = None,
    pdq: Annotated[
        str | None, typer.Option(help="Add by hash: PDQ as 64 hex digits.", show_default=False)
    ] = None,
    phash: Annotated[
        str | None, typer.Option(help="Add by hash: pHash as 16 hex digits.", show_default=False)
    ] = None,
    quality: Annotated[
        int | None, typer.Option(help="PDQ quality of --pdq, if known.", show_default=False)
    ] = None,
    metadata: Annotated[
        str | None,
        typer.Option(
            help="JSON object stored with the content (e.g. a case id).", show_default=False
        ),
    ] = None,
    registry: RegistryOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add images (hashed here) or one item by hash (--pdq / --phash).

    Images too flat or too small for PDQ (quality below 50) and content the bank already
    holds are refused, each with one line; the other files are still added and the exit
    status is then 1.
    """
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import emit_json, error, fail, stdout
    from provenance.errors import ProvauditError

    files = files or []
    if not files and pdq is None and phash is None:
        fail("Give image files, or --pdq / --phash to add by hash.", ExitStatus.USAGE)
    if files and (pdq is not None or phash is not None):
        fail("Add either files or a hash (--pdq / --phash), not both.", ExitStatus.USAGE)
    extra = _metadata(metadata)
    store = _open(registry)
    failed = False
    try:
        store.banks.bank(bank_name)
        items: list[tuple[str, Any]] = (
            [(str(path), path) for path in files] if files else [("hash", None)]
        )
        for label, path in items:
            try:
                if path is None:
                    info = store.banks.add_hashes(
                        bank_name, pdq=pdq, pdq_quality=quality, phash=phash, metadata=extra
                    )
                else:
                    data = _read(path)
                    info = store.banks.add_image(bank_name, data, str(path), metadata=extra)
            except ProvauditError as exc:
                failed = True
                error(str(exc))
                if json_output:
                    emit_json({"input": label, "error": {"code": exc.code, "message": str(exc)}})
                continue
            if json_output:
                emit_json({"input": label, **info.to_dict()})
            else:
                stdout().print(
                    f"{label}: added to {info.bank} as bank_content_id {info.id}"
                    f"  pdq={info.pdq}  phash={info.phash}"
                )
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.ERROR)
    finally:
        store.close()
    raise typer.Exit(int(ExitStatus.ERROR if failed else ExitStatus.SUCCESS))


@app.command("lookup")
def lookup(
    files: Annotated[
        list[Path] | None,
        typer.Argument(metavar="[FILE]...", help="Images to look up.", show_default=False),
    ] = None,
    pdq: Annotated[
        str | None, typer.Option(help="Look up a PDQ hash (64 hex digits).", show_default=False)
    ] = None,
    phash: Annotated[
        str | None, typer.Option(help="Look up a pHash (16 hex digits).", show_default=False)
    ] = None,
    banks: Annotated[
        list[str] | None,
        typer.Option(
            "--bank", help="Only these banks (repeatable; default all).", show_default=False
        ),
    ] = None,
    dihedral: Annotated[
        bool, typer.Option(help="Also match rotated (90/180/270) and flipped copies.")
    ] = True,
    registry: RegistryOption = None,
    json_output: JsonOption = False,
) -> None:
    """Matches per bank, closest first, each with the metadata stored with the item.

    JSON: {bank: [{bank_content_id, distance, signal, variant, metadata}]}.

    An image whose PDQ quality is below 50 is refused as too flat or too small to match.
    """
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import emit_json, error, fail, stdout
    from provenance.errors import ProvauditError
    from provenance.hashquery import HashQuery, require_matchable

    files = files or []
    if not files and pdq is None and phash is None:
        fail("Give image files, or --pdq / --phash to look up a hash.", ExitStatus.USAGE)
    if files and (pdq is not None or phash is not None):
        fail("Look up either files or a hash (--pdq / --phash), not both.", ExitStatus.USAGE)
    store = _open(registry)
    failed = False
    try:
        queries: list[tuple[str, Any]] = []
        if not files:
            try:
                queries.append(("hash", HashQuery.from_hashes(pdq=pdq, phash=phash)))
            except ProvauditError as exc:
                fail(str(exc), ExitStatus.ERROR)
        for path in files:
            try:
                from provenance.media import decode_image

                image = decode_image(_read(path), str(path))
                query = HashQuery.from_image(image, dihedral=dihedral)
                require_matchable(query.pdq_quality, str(path))
                queries.append((str(path), query))
            except ProvauditError as exc:
                failed = True
                error(str(exc))
                if json_output:
                    emit_json(
                        {"input": str(path), "error": {"code": exc.code, "message": str(exc)}}
                    )
        try:
            results = store.banks.lookup([q for _label, q in queries], banks=banks)
        except ProvauditError as exc:
            fail(str(exc), ExitStatus.ERROR)
        for (label, query), matches in zip(queries, results, strict=True):
            if json_output:
                emit_json({"input": label, **query.fingerprints(), "matches": matches})
                continue
            out = stdout()
            if not matches:
                out.print(f"{label}: no match")
            for bank_name, hits in matches.items():
                for hit in hits:
                    variant = "" if hit["variant"] == "original" else f", {hit['variant']}"
                    note = (
                        f"  {json.dumps(hit['metadata'], ensure_ascii=False)}"
                        if hit.get("metadata")
                        else ""
                    )
                    out.print(
                        f"{label}: {bank_name} bank_content_id={hit['bank_content_id']}"
                        f" distance={hit['distance']} ({hit['signal']}{variant}){note}"
                    )
    finally:
        store.close()
    raise typer.Exit(int(ExitStatus.ERROR if failed else ExitStatus.SUCCESS))


@app.command("list-content")
def list_content(
    bank_name: Annotated[str, typer.Argument(metavar="BANK", help="The bank to browse.")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Items per page.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Items to skip (oldest first).")] = 0,
    registry: RegistryOption = None,
    json_output: JsonOption = False,
) -> None:
    """A page of a bank's content, oldest first, with the metadata stored with each item."""
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import emit_json, fail, stdout
    from provenance.errors import ProvauditError
    from provenance.records import bank_page

    store = _open(registry)
    try:
        items, total = store.banks.list_content(bank_name, limit=limit, offset=offset)
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.ERROR)
    finally:
        store.close()
    following = offset + len(items)
    if json_output:
        emit_json(
            {
                **bank_page(bank_name, total, limit, offset, following),
                "items": [info.to_dict() for info in items],
            }
        )
        return
    out = stdout()
    for info in items:
        out.print(
            f"{info.id}  pdq={info.pdq or '-'}  phash={info.phash or '-'}  {info.source}  "
            f"{info.created.isoformat()}"
            + (f"  {json.dumps(info.metadata, ensure_ascii=False)}" if info.metadata else "")
        )
    shown = f"{offset + 1}-{following}" if items else "none"
    more = f"; next: --offset {following}" if following < total else ""
    out.print(f"{bank_name}: {shown} of {total}{more}")


@app.command("remove")
def remove(
    bank_name: Annotated[str, typer.Argument(metavar="BANK", help="The bank to remove from.")],
    content_ids: Annotated[
        list[int],
        typer.Argument(metavar="ID...", help="bank_content_id of each item to remove."),
    ],
    registry: RegistryOption = None,
    json_output: JsonOption = False,
) -> None:
    """Remove items from a bank; they match no lookup from then on.

    An id the bank does not hold is reported with one line and the others are still
    removed; the exit status is then 1.
    """
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import emit_json, error, fail, stdout
    from provenance.errors import ProvauditError

    store = _open(registry)
    failed = False
    try:
        store.banks.bank(bank_name)
        for content_id in content_ids:
            try:
                info = store.banks.remove(bank_name, content_id)
            except ProvauditError as exc:
                failed = True
                error(str(exc))
                if json_output:
                    emit_json(
                        {
                            "bank_content_id": content_id,
                            "error": {"code": exc.code, "message": str(exc)},
                        }
                    )
                continue
            if json_output:
                emit_json({"removed": True, **info.to_dict()})
            else:
                stdout().print(f"Removed bank_content_id {info.id} from {info.bank}")
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.ERROR)
    finally:
        store.close()
    raise typer.Exit(int(ExitStatus.ERROR if failed else ExitStatus.SUCCESS))


action_app = typer.Typer(no_args_is_help=True, rich_markup_mode="rich")
app.add_typer(action_app, name="action")


@action_app.callback()
def action() -> None:
    """What happens when a bank's content is matched: a webhook POST of each match."""


@action_app.command("set")
def action_set(
    bank_name: Annotated[str, typer.Argument(metavar="BANK", help="The bank to act for.")],
    webhook: Annotated[
        str,
        typer.Option(
            "--webhook",
            help="http(s) URL that receives each match as a JSON POST (from the service).",
        ),
    ],
    registry: RegistryOption = None,
    json_output: JsonOption = False,
) -> None:
    """Set BANK's webhook: every audit or lookup the service answers with a match of
    BANK's content is POSTed there, retried with backoff, each attempt recorded."""
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import emit_json, fail, stdout
    from provenance.errors import ProvauditError

    store = _open(registry)
    try:
        info = store.actions.set_webhook(bank_name, webhook)
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.ERROR)
    finally:
        store.close()
    if json_output:
        emit_json(info.to_dict())
    else:
        stdout().print(f"Matches of {info.bank} are POSTed to {info.webhook_url}")


@action_app.command("show")
def action_show(
    bank_name: Annotated[str, typer.Argument(metavar="BANK", help="The bank.")],
    registry: RegistryOption = None,
    json_output: JsonOption = False,
) -> None:
    """BANK's webhook, if it has one."""
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import emit_json, fail, stdout
    from provenance.errors import ProvauditError

    store = _open(registry)
    try:
        info = store.actions.action(bank_name)
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.ERROR)
    finally:
        store.close()
    if json_output:
        emit_json(info.to_dict() if info else {"bank": bank_name, "webhook_url": None})
    elif info is None:
        stdout().print(
            f"{bank_name}: no action (provaudit bank action set {bank_name} --webhook URL)"
        )
    else:
        stdout().print(
            f"{info.bank}: webhook {info.webhook_url} (since {info.updated.isoformat()})"
        )


@action_app.command("clear")
def action_clear(
    bank_name: Annotated[str, typer.Argument(metavar="BANK", help="The bank.")],
    registry: RegistryOption = None,
    json_output: JsonOption = False,
) -> None:
    """Remove BANK's webhook; the record of its deliveries stays."""
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import emit_json, fail, stdout
    from provenance.errors import ProvauditError

    store = _open(registry)
    try:
        removed = store.actions.clear_webhook(bank_name)
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.ERROR)
    finally:
        store.close()
    if json_output:
        emit_json({"bank": bank_name, "removed": removed})
    else:
        stdout().print(
            f"Removed the webhook of {bank_name}" if removed else f"{bank_name} had no webhook"
        )


@app.command("actions")
def actions(
    bank_name: Annotated[str, typer.Argument(metavar="BANK", help="The bank.")],
    status: Annotated[
        str | None,
        typer.Option(
            help="Only deliveries that are pending, delivered or failed.", show_default=False
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Deliveries per page.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Deliveries to skip (newest first).")] = 0,
    registry: RegistryOption = None,
    json_output: JsonOption = False,
) -> None:
    """BANK's webhook deliveries, newest first, with every attempt and its outcome."""
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import emit_json, fail, stdout
    from provenance.errors import ProvauditError
    from provenance.records import bank_page

    store = _open(registry)
    try:
        deliveries, total = store.actions.deliveries(
            bank_name,
            limit=limit,
            offset=offset,
            status=status,  # type: ignore[arg-type]
        )
    except ProvauditError as exc:
        fail(str(exc), ExitStatus.ERROR)
    finally:
        store.close()
    following = offset + len(deliveries)
    if json_output:
        emit_json(
            {
                **bank_page(bank_name, total, limit, offset, following),
                "deliveries": [delivery.to_dict() for delivery in deliveries],
            }
        )
        return
    out = stdout()
    for delivery in deliveries:
        out.print(
            f"delivery {delivery.id}  {delivery.status}  bank_content_id={delivery.bank_content_id}"
            f"  attempts={delivery.attempts}  {delivery.created.isoformat()}  -> {delivery.url}"
        )
        for attempt in delivery.history:
            answer = f"HTTP {attempt.status_code}" if attempt.status_code else attempt.error
            out.print(
                f"  #{attempt.number} {attempt.started.isoformat()} {attempt.outcome}"
                f"  {answer}  {attempt.duration_ms} ms"
            )
    shown = f"{offset + 1}-{following}" if deliveries else "none"
    more = f"; next: --offset {following}" if following < total else ""
    out.print(f"{bank_name}: deliveries {shown} of {total}{more}")


@app.command("status")
def status(registry: RegistryOption = None, json_output: JsonOption = False) -> None:
    """Registry and index status: sizes, whether each index agrees with the registry."""
    from provenance.cli.output import emit_json, stdout

    store = _open(registry)
    try:
        report = store.status()
    finally:
        store.close()
    if json_output:
        emit_json(report)
        return
    out = stdout()
    out.print(f"registry: {report['registry']}")
    out.print(
        f"banks: {report['banks']}  bank content: {report['bank_content']}  "
        f"signed manifests: {report['manifests']}"
    )
    for name, entry in report["indexes"].items():
        state = "in sync" if entry["in_sync"] else "OUT OF SYNC"
        out.print(f"  index {name} ({entry['kind']}): {entry['size']} hashes, {state}")


def _read(path: Path) -> bytes:
    from provenance.media import read_media

    return read_media(path).data


def _metadata(text: str | None) -> dict[str, Any] | None:
    from provenance.cli.exit_status import ExitStatus
    from provenance.cli.output import fail

    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--metadata is not JSON ({exc.msg}).", ExitStatus.USAGE)
    if not isinstance(value, dict):
        fail("--metadata must be a JSON object.", ExitStatus.USAGE)
    return value
