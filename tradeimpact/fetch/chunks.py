"""Saved answers ("chunks"), their sidecars, resume, progress and the closing summary.

Every fetched answer is saved **unchanged** as ``<name>`` beside a sidecar ``<name>.meta``
(JSON: the request without any key, the time, the body's sha256 and byte size, the row count and
the fetcher). The data file is written first and the sidecar last, both atomically, so the sidecar
is the commit mark: a chunk counts as on disk only when its sidecar exists and the sha256 of the
file matches it (:func:`is_intact`). An interrupted fetch therefore resumes by skipping intact
chunks and fetching the rest; a half-written or altered file is fetched again.

The sidecar's suffix is ``.meta`` (not ``.json``) so that a reader sniffing ``*.json`` files in
the folder never takes a sidecar for data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tradeimpact.fetch.http import AuthError, FetchError, HttpClient, Response, atomic_write_bytes

SIDECAR_SUFFIX = ".meta"

#: a clock returning an aware UTC datetime (tests inject a fixed one)
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The current time, UTC, to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    """Hex sha256 of the file at ``path``, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar_path(path: Path) -> Path:
    """The sidecar of the data file ``path`` (``<name>.meta``)."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """The sidecar of ``path`` as a dict, or None when absent or unreadable."""
    meta = sidecar_path(path)
    try:
        loaded = json.loads(meta.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return loaded if isinstance(loaded, dict) else None


def is_intact(path: Path) -> bool:
    """True when ``path`` and its sidecar exist and the file's sha256 matches the sidecar."""
    meta = read_sidecar(path)
    if meta is None or not path.is_file():
        return False
    return meta.get("sha256") == sha256_file(path)


def save_chunk(
    path: Path,
    body: bytes,
    *,
    request: dict[str, Any],
    rows: int | None,
    fetcher: str,
    clock: Clock = utc_now,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Save ``body`` unchanged at ``path`` and its sidecar; return the sidecar dict.

    Parameters
    ----------
    path : Path
        Target data file.
    body : bytes
        The answer, byte for byte.
    request : dict
        What was asked (endpoint and parameters) **without any key**.
    rows : int or None
        Rows in the answer (None where not counted, e.g. an archive).
    fetcher : str
        Which fetcher wrote it (``"comtrade"``, ``"estat"``, ``"baci"``).
    clock : callable
        Time of the fetch (UTC).
    extra : dict, optional
        More fields for the sidecar.
    """
    meta: dict[str, Any] = {
        "fetcher": fetcher,
        "file": path.name,
        "request": request,
        "fetched_at": clock().isoformat().replace("+00:00", "Z"),
        "sha256": sha256_bytes(body),
        "bytes": len(body),
        "rows": rows,
    }
    if extra:
        meta.update(extra)
    atomic_write_bytes(path, body)
    write_json(sidecar_path(path), meta)
    return meta


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as sorted, indented JSON, atomically (deterministic bytes)."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


@dataclass
class Summary:
    """Counts of one fetch: chunks fetched, skipped (already intact), failed; rows fetched."""

    source: str
    fetched: int = 0
    skipped: int = 0
    failed: int = 0
    rows: int = 0
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no chunk failed."""
        return self.failed == 0

    def add_fetched(self, path: Path, rows: int) -> None:
        """Count the chunk saved at ``path`` with ``rows`` rows as fetched."""
        self.fetched += 1
        self.rows += rows
        self.files.append(path)

    def add_skipped(self, path: Path) -> None:
        """Count the chunk at ``path`` as skipped (already on disk and intact)."""
        self.skipped += 1
        self.files.append(path)

    def line(self) -> str:
        """One-line summary for the terminal."""
        return (
            f"{self.source}: {self.fetched} chunk(s) fetched, {self.skipped} skipped (already on "
            f"disk and intact), {self.failed} failed; {self.rows} row(s) fetched in "
            f"{self.requests} request(s)"
        )


class Bar:
    """Handle on one progress bar: ``advance()`` a finished chunk, ``grow(n)`` new chunks."""

    def __init__(self, progress: Progress | None = None, task: Any = None) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: int = 1) -> None:
        """Mark ``n`` chunks done."""
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def grow(self, n: int) -> None:
        """Add ``n`` chunks to the total (a capped answer split into parts)."""
        if self._progress is not None:
            total = self._progress.tasks[0].total or 0
            self._progress.update(self._task, total=total + n)


@contextmanager
def progress_bar(
    description: str, total: int, *, enabled: bool = True, console: Console | None = None
) -> Iterator[Bar]:
    """A rich progress bar for one fetch (to stderr); disabled, a handle that does nothing."""
    if not enabled:
        yield Bar()
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield Bar(progress, task)


def print_summary(summary: Summary, console: Console | None = None) -> None:
    """Print the closing summary (and the failures, one a line)."""
    console = console or Console(stderr=True)
    style = "green" if summary.ok else "red"
    console.print(f"[{style}]{summary.line()}[/{style}]")
    for failure in summary.failures:
        console.print(f"  failed: {failure}", style="red", markup=False, highlight=False)


def request_chunk(
    client: HttpClient,
    summary: Summary,
    bar: Bar,
    progress: bool,
    call: Callable[[], Response],
) -> Response | None:
    """One request of a chunked fetch, counted in ``summary``.

    A failed request (after the client's retries) is recorded, redacted, as a failure, the bar
    advances and None is returned, so the fetch goes on with the next chunk; a refused key
    (:class:`AuthError`) prints the summary so far (when showing progress) and stops the fetch.
    """
    summary.requests += 1
    try:
        return call()
    except AuthError:
        if progress:
            print_summary(summary)
        raise
    except FetchError as err:
        summary.failed += 1
        summary.failures.append(client.redact(str(err)))
        bar.advance()
        return None


@dataclass(frozen=True)
class PlannedCall:
    """One request a fetch would make: its URL (never a key) and the file it would write."""

    url: str
    target: Path
    on_disk: bool = False


@dataclass
class FetchPlan:
    """What a fetch would do, computed without any network access (``--dry-run``).

    Attributes
    ----------
    source : str
        ``"comtrade"``, ``"estat"`` or ``"baci"``.
    calls : list of PlannedCall
        The requests known before asking anything, in order (a capped Comtrade answer, more
        e-Stat pages or the files a catalog lists add calls: said in ``notes``).
    seconds_per_call : float
        The client-side throttle (the time estimate is ``calls to make x seconds_per_call``).
    notes : list of str
        What the plan cannot know in advance, and which key is used (never the key itself).
    """

    source: str
    calls: list[PlannedCall] = field(default_factory=list)
    seconds_per_call: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def to_fetch(self) -> int:
        """Calls whose file is not already on disk and intact."""
        return sum(not c.on_disk for c in self.calls)

    @property
    def estimated_seconds(self) -> float:
        """Throttle time of the calls to make (network time not included)."""
        return self.to_fetch * self.seconds_per_call

    def render(self) -> str:
        """The plan as text: a header line, one line per call, then the notes."""
        minutes = self.estimated_seconds / 60
        lines = [
            f"{self.source}: {len(self.calls)} call(s) planned, {self.to_fetch} to make "
            f"({len(self.calls) - self.to_fetch} already on disk and intact); about "
            f"{minutes:.1f} min at one call per {self.seconds_per_call:g} s"
        ]
        for call in self.calls:
            mark = "skip (on disk)" if call.on_disk else "GET"
            lines.append(f"  {mark} {call.url}")
            lines.append(f"      -> {call.target}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def plan_calls(
    source: str,
    targets: Iterable[tuple[str, Path]],
    seconds_per_call: float,
    notes: list[str],
) -> FetchPlan:
    """The :class:`FetchPlan` of ``(url, target file)`` pairs, each marked on disk when intact.

    Parameters
    ----------
    source : str
        ``"comtrade"``, ``"estat"`` or ``"baci"``.
    targets : iterable of (str, Path)
        Each request's URL (never a key) and the file it would write, in order.
    seconds_per_call : float
        The client-side throttle.
    notes : list of str
        What the plan cannot know in advance (see :class:`FetchPlan`).
    """
    calls = [PlannedCall(url, target, is_intact(target)) for url, target in targets]
    return FetchPlan(source, calls, seconds_per_call, notes=notes)
