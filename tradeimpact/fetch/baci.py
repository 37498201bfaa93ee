"""Download a CEPII BACI release archive, checksum it, unpack only the years asked for, safely.

URL pattern (verified in public code that downloads BACI, e.g. ``bblocks`` ``BaciDataManager`` and
scripts naming ``https://www.cepii.fr/DATA_DOWNLOAD/baci/data/BACI_HS92_V202601.zip``):
``{base}/BACI_{revision}_V{release}.zip`` with ``base =
https://www.cepii.fr/DATA_DOWNLOAD/baci/data``, revision one of HS92, HS96, HS02, HS07, HS12,
HS17, HS22 and release like ``202601`` (some releases carry a letter: ``202401b``). One archive
holds one CSV per year, ``BACI_{revision}_Y{year}_V{release}.csv``, plus
``country_codes_V{release}.csv``, ``product_codes_{revision}_V{release}.csv`` and a readme. The
archives are large (HS92 V202601: about 2.4 GB), so the download streams to disk and resumes a
partial download by HTTP Range.

Checksum: CEPII publishes no checksum beside the archives (none found); the archive's sha256 is
computed and recorded in its sidecar, and checked against ``expected_sha256`` when given. A run
that finds the archive intact (sha256 = sidecar) does not download it again.

Safe unpacking (:func:`safe_extract`): every entry of the archive is checked before anything is
written; the archive is refused (:class:`UnsafeArchive`) when an entry's name is absolute, has a
drive letter or a ``..`` component, or the entry is a symbolic link. The members asked for are
written under their base name only, each through a temporary file renamed when whole, and the
total unpacked size is bounded (``max_unpacked_bytes``) by the sizes the archive declares *and*
by the bytes actually written, so a zip bomb stops at the bound and leaves no partial file.

The compression ratio (unpacked / compressed bytes) is bounded too (``max_ratio``, default
:data:`MAX_COMPRESSION_RATIO` = 100), for each member and for the members together, again by the
declared sizes before anything is written *and* by the bytes written while unpacking (a member may
lie about its size). BACI's CSVs compress about 3.5-6 times (measured with deflate level 6 on the
real files in ``../shared/data/real``: BACI V202201 ``product_codes.csv`` 5.7, a BACI-derived
``i,j,cmd,value`` table 3.6, ``country_codes`` 1.7-2.3), so 100 leaves a wide margin, while a
deflate bomb reaches about 1,000 (a 510 KiB archive unpacking to 512 MiB). Members smaller than
:data:`RATIO_FLOOR_BYTES` (1 MiB unpacked) are not held to the ratio: a short readme or an empty
table can compress far better without being a threat.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import stat
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from tradeimpact.fetch.chunks import (
    Clock,
    FetchPlan,
    PlannedCall,
    Summary,
    is_intact,
    print_summary,
    progress_bar,
    read_sidecar,
    sha256_file,
    sidecar_path,
    utc_now,
    write_json,
)
from tradeimpact.fetch.http import FetchError, HttpClient, atomic_writer

BASE_URL = "https://www.cepii.fr/DATA_DOWNLOAD/baci/data"
REVISIONS = ("HS92", "HS96", "HS02", "HS07", "HS12", "HS17", "HS22")
#: default bound of the unpacked size of one fetch (a year of BACI HS92 is ~250 MB)
MAX_UNPACKED_BYTES = 20 * 1024**3
#: default bound of unpacked / compressed bytes (per member and in total; see the module doc)
MAX_COMPRESSION_RATIO = 100.0
#: members unpacking to at most this many bytes are not held to the ratio bound
RATIO_FLOOR_BYTES = 1 << 20


class UnsafeArchive(FetchError):
    """The archive has an entry that could write outside the target folder, or is too big."""


def archive_name(revision: str, release: str) -> str:
    """``BACI_{revision}_V{release}.zip``."""
    revision = revision.upper()
    if revision not in REVISIONS:
        raise ValueError(f"HS revision must be one of {', '.join(REVISIONS)}, not {revision!r}")
    if not re.fullmatch(r"\d{6}[a-z]?", release):
        raise ValueError(f"release must look like 202601 or 202401b, not {release!r}")
    return f"BACI_{revision}_V{release}.zip"


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why ``info`` may not be unpacked, or None when it is safe."""
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        return "has an absolute path"
    if ".." in norm.split("/"):
        return "has a '..' component"
    if "\x00" in norm:
        return "has a NUL byte in its name"
    if posixpath.normpath(norm).startswith("../"):
        return "escapes the target folder"
    return None


def select_members(names: Iterable[str], revision: str, years: Sequence[int]) -> list[str]:
    """The archive members to unpack: the CSVs of ``years`` and the country/product tables."""
    wanted = {int(y) for y in years}
    pattern = re.compile(rf"^BACI_{re.escape(revision.upper())}_Y(\d{{4}})_V\w+\.csv$")
    out = []
    for name in names:
        base = posixpath.basename(name.replace("\\", "/"))
        match = pattern.match(base)
        if match and int(match.group(1)) in wanted:
            out.append(name)
        elif re.match(r"^(country_codes|product_codes)_.*\.csv$", base):
            out.append(name)
    return sorted(out)


def safe_extract(
    archive: Path,
    members: Sequence[str],
    target: Path,
    *,
    max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
    max_ratio: float = MAX_COMPRESSION_RATIO,
    block: int = 1 << 20,
) -> list[Path]:
    """Unpack ``members`` of ``archive`` into ``target`` (flat, by base name), safely.

    Parameters
    ----------
    archive : Path
        The zip file.
    members : sequence of str
        Entry names to unpack.
    target : Path
        Folder to write into (created).
    max_unpacked_bytes : int
        Bound on the total bytes written.
    max_ratio : float
        Bound on unpacked / compressed bytes, per member and over the members (members up to
        :data:`RATIO_FLOOR_BYTES` unpacked are exempt).

    Returns
    -------
    list of Path
        The files written, in ``members`` order.

    Raises
    ------
    UnsafeArchive
        An entry of the archive is unsafe (absolute, ``..``, symlink), a member is missing, or
        the unpacked size or the compression ratio would pass its bound. Nothing partial is
        left behind.
    """
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    written: list[Path] = []
    with zipfile.ZipFile(archive) as zf:
        infos = {info.filename: info for info in zf.infolist()}
        for info in infos.values():
            reason = _unsafe_reason(info)
            if reason is not None:
                raise UnsafeArchive(
                    f"{archive.name}: refused: entry {info.filename!r} {reason}; nothing unpacked"
                )
        missing = [m for m in members if m not in infos]
        if missing:
            raise UnsafeArchive(f"{archive.name}: no entry named {missing[0]!r}")
        declared = sum(infos[m].file_size for m in members)
        if declared > max_unpacked_bytes:
            raise UnsafeArchive(
                f"{archive.name}: the members asked for would unpack to {declared} bytes, over "
                f"the bound of {max_unpacked_bytes} bytes; nothing unpacked"
            )
        compressed = sum(infos[m].compress_size for m in members)
        ratio_total = _ratio_allowance(compressed, max_ratio)
        for m in members:
            info = infos[m]
            if info.file_size > _ratio_allowance(info.compress_size, max_ratio):
                raise UnsafeArchive(
                    f"{archive.name}: entry {m!r} declares {info.file_size} bytes from "
                    f"{info.compress_size} compressed (ratio "
                    f"{info.file_size / max(info.compress_size, 1):.0f}), over the bound of "
                    f"{max_ratio:g} (a zip bomb?); nothing unpacked"
                )
        if declared > ratio_total:
            raise UnsafeArchive(
                f"{archive.name}: the members asked for declare {declared} bytes from "
                f"{compressed} compressed, over the ratio bound of {max_ratio:g}; nothing unpacked"
            )
        total = 0
        try:
            for name in members:
                allowed = _ratio_allowance(infos[name].compress_size, max_ratio)
                entry_total = 0
                base = posixpath.basename(name.replace("\\", "/"))
                dest = (root / base).resolve()
                if dest.parent != root:
                    raise UnsafeArchive(f"{archive.name}: entry {name!r} escapes the target")
                with atomic_writer(dest) as out, zf.open(infos[name]) as src:
                    while chunk := src.read(block):
                        total += len(chunk)
                        entry_total += len(chunk)
                        if total > max_unpacked_bytes:
                            raise UnsafeArchive(
                                f"{archive.name}: unpacking {name!r} passed the bound of "
                                f"{max_unpacked_bytes} bytes (a zip bomb?); stopped"
                            )
                        if entry_total > allowed or total > ratio_total:
                            raise UnsafeArchive(
                                f"{archive.name}: unpacking {name!r} passed the compression "
                                f"ratio bound of {max_ratio:g} (more than its declared size: "
                                "a zip bomb?); stopped"
                            )
                        out.write(chunk)
                written.append(dest)
        except zipfile.BadZipFile as err:
            _remove(written)
            raise UnsafeArchive(f"{archive.name}: corrupt archive: {err}") from None
        except BaseException:
            _remove(written)
            raise
    return written


def _ratio_allowance(compressed: int, max_ratio: float) -> float:
    """Most unpacked bytes ``compressed`` bytes may give: ``max_ratio`` times, at least 1 MiB."""
    return max(max_ratio * compressed, float(RATIO_FLOOR_BYTES))


def _year_of(member: str) -> int | None:
    """The year of a ``BACI_..._Y{year}_...csv`` member, None for the code tables."""
    match = re.search(r"_Y(\d{4})_", posixpath.basename(member.replace("\\", "/")))
    return int(match.group(1)) if match else None


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _count_rows(path: Path) -> int:
    """Data rows of a CSV (lines after the header)."""
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return max(0, lines - 1)


def plan_baci(
    release: str,
    revision: str,
    years: Sequence[int],
    *,
    out: Path,
    base_url: str = BASE_URL,
) -> FetchPlan:
    """What :func:`fetch_baci` would download and unpack, without any network access.

    Returns
    -------
    FetchPlan
        One call (the archive; marked on disk when it, or every file asked for, is intact) and
        the files it would unpack, in the notes.
    """
    name = archive_name(revision, release)
    archive = out / name
    target = out / name.removesuffix(".zip")
    wanted = [
        target / f"BACI_{revision.upper()}_Y{int(y)}_V{release}.csv" for y in sorted(set(years))
    ] + [
        target / f"country_codes_V{release}.csv",
        target / f"product_codes_{revision.upper()}_V{release}.csv",
    ]
    done = is_intact(archive) or (not archive.exists() and all(is_intact(p) for p in wanted))
    url = f"{base_url.rstrip('/')}/{name}"
    notes = [f"unpacks {p}" for p in wanted]
    notes.append(
        "one archive holds every year of the revision (HS92 V202601: about 2.4 GB): the time is "
        "the download's, resumed by Range if interrupted"
    )
    return FetchPlan("baci", [PlannedCall(url, archive, done)], 0.0, notes=notes)


def fetch_baci(
    release: str,
    revision: str,
    years: Sequence[int],
    *,
    out: Path,
    base_url: str = BASE_URL,
    expected_sha256: str | None = None,
    max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
    max_ratio: float = MAX_COMPRESSION_RATIO,
    keep_archive: bool = True,
    client: HttpClient | None = None,
    clock: Clock = utc_now,
    progress: bool = True,
) -> Summary:
    """Download ``BACI_{revision}_V{release}.zip`` into ``out`` and unpack the years asked for.

    Parameters
    ----------
    release : str
        BACI release, e.g. ``"202601"``.
    revision : str
        HS revision, e.g. ``"HS07"``.
    years : sequence of int
        Years whose CSVs to unpack (plus the country and product code tables).
    out : Path
        Folder of the archive; the CSVs go to ``out/BACI_{revision}_V{release}/``.
    base_url : str
        Where the archives are (tests point it at 127.0.0.1).
    expected_sha256 : str, optional
        Known sha256 of the archive; a mismatch fails (the archive is removed).
    max_unpacked_bytes : int
        Bound of the unpacked size.
    max_ratio : float
        Bound of the compression ratio (:func:`safe_extract`).
    keep_archive : bool
        Keep the archive after unpacking (so another year can be unpacked without downloading).
    client, clock, progress
        As in :func:`tradeimpact.fetch.comtrade.fetch_comtrade`.

    Returns
    -------
    Summary
        ``fetched`` counts files downloaded or unpacked, ``skipped`` those already intact.
    """
    client = client or HttpClient()
    name = archive_name(revision, release)
    archive = out / name
    target = out / name.removesuffix(".zip")
    summary = Summary(source="baci")
    url = f"{base_url.rstrip('/')}/{name}"
    wanted = [
        target / f"BACI_{revision.upper()}_Y{int(y)}_V{release}.csv" for y in sorted(set(years))
    ] + [
        target / f"country_codes_V{release}.csv",
        target / f"product_codes_{revision.upper()}_V{release}.csv",
    ]
    if not archive.exists() and all(is_intact(p) for p in wanted):
        # everything asked is unpacked and intact: no download, even if the archive was removed
        summary.skipped = len(wanted)
        summary.files = sorted(wanted)
        if progress:
            print_summary(summary)
        return summary
    with progress_bar(f"BACI {revision} V{release}", 2, enabled=progress) as bar:
        if is_intact(archive):
            summary.skipped += 1
        else:
            summary.requests += 1
            try:
                size = client.download(url, archive, what=name)
            except FetchError as err:
                summary.failed += 1
                summary.failures.append(str(err))
                if progress:
                    print_summary(summary)
                return summary
            digest = sha256_file(archive)
            if expected_sha256 and digest != expected_sha256.lower():
                archive.unlink()
                summary.failed += 1
                summary.failures.append(
                    f"{name}: sha256 {digest} differs from the expected {expected_sha256}; "
                    "the archive was removed"
                )
                if progress:
                    print_summary(summary)
                return summary
            write_json(
                sidecar_path(archive),
                {
                    "fetcher": "baci",
                    "file": name,
                    "request": {"url": url, "release": release, "revision": revision.upper()},
                    "fetched_at": clock().isoformat().replace("+00:00", "Z"),
                    "sha256": digest,
                    "bytes": size,
                    "rows": None,
                },
            )
            summary.fetched += 1
        bar.advance()
        archive_sha = (read_sidecar(archive) or {}).get("sha256")
        try:
            with zipfile.ZipFile(archive) as zf:
                members = select_members(zf.namelist(), revision, years)
        except (zipfile.BadZipFile, OSError) as err:
            archive.unlink(missing_ok=True)
            sidecar_path(archive).unlink(missing_ok=True)
            summary.failed += 1
            summary.failures.append(f"{name}: not a readable zip archive ({err}); removed")
            if progress:
                print_summary(summary)
            return summary
        found = {y for m in members if (y := _year_of(m)) is not None}
        for year in sorted(set(int(y) for y in years) - found):
            summary.failed += 1
            summary.failures.append(f"{name}: the archive has no file for year {year}")
        todo = []
        for member in members:
            dest = target / posixpath.basename(member.replace("\\", "/"))
            meta = read_sidecar(dest)
            if is_intact(dest) and meta is not None and meta.get("archive_sha256") == archive_sha:
                summary.add_skipped(dest)
            else:
                todo.append(member)
        try:
            written = safe_extract(
                archive, todo, target, max_unpacked_bytes=max_unpacked_bytes, max_ratio=max_ratio
            )
        except FetchError as err:
            summary.failed += 1
            summary.failures.append(str(err))
            written = []
        for member, path in zip(todo, written, strict=False):
            rows = _count_rows(path)
            write_json(
                sidecar_path(path),
                {
                    "fetcher": "baci",
                    "file": path.name,
                    "request": {"archive": name, "member": member, "url": url},
                    "archive_sha256": archive_sha,
                    "fetched_at": clock().isoformat().replace("+00:00", "Z"),
                    "sha256": sha256_file(path),
                    "bytes": path.stat().st_size,
                    "rows": rows,
                },
            )
            summary.add_fetched(path, rows)
        bar.advance()
    if not keep_archive and summary.ok:
        archive.unlink()
        sidecar_path(archive).unlink(missing_ok=True)
    if progress:
        print_summary(summary)
    summary.files.sort()
    return summary
