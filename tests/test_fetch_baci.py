"""BACI archive fetch: download, checksum, unpack only the years asked for, zip-slip and zip bombs.

The archives are crafted in the test (SYNTHETIC values) and served from 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import io
import stat
import zipfile
from pathlib import Path

import pytest
from fetch_server import LocalServer, Reply, Seen

import tradeimpact.sources.baci as reader_module
from tradeimpact.fetch.baci import (
    MAX_COMPRESSION_RATIO,
    MAX_UNPACKED_BYTES,
    UnsafeArchive,
    archive_name,
    fetch_baci,
    safe_extract,
    select_members,
)
from tradeimpact.fetch.chunks import read_sidecar, sha256_bytes
from tradeimpact.fetch.http import HttpClient, RetryPolicy

FIXED = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
REL = "202601"


def year_csv(year: int) -> bytes:
    """A small SYNTHETIC BACI year file in the real layout (t,i,j,k,v,q)."""
    return (
        "t,i,j,k,v,q\n"
        f"{year},156,392,280530,{1000 + year % 100}.5,12.25\n"
        f"{year},156,842,284690,{2000 + year % 100}.125,NA\n"
        f"{year},842,392,850511,3.75,0.5\n"
    ).encode()


def baci_zip(years: list[int], extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for y in years:
            zf.writestr(f"BACI_HS07_Y{y}_V{REL}.csv", year_csv(y))
        zf.writestr(
            f"country_codes_V{REL}.csv",
            b"country_code,country_name,country_iso2,country_iso3\n156,China,CN,CHN\n392,Japan,JP,JPN\n842,USA,US,USA\n",
        )
        zf.writestr(
            f"product_codes_HS07_V{REL}.csv", b"code,description\n280530,Rare-earth metals\n"
        )
        zf.writestr(f"Readme_V{REL}.txt", b"SYNTHETIC test archive\n")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def serve(archive: bytes, *, drop_after: int | None = None):
    """Serve ``archive`` with Range support; the first answer may drop after ``drop_after`` bytes."""
    state = {"n": 0}

    def respond(seen: Seen) -> Reply:
        state["n"] += 1
        rng = seen.headers.get("range")
        if rng:
            start = int(rng.split("=")[1].rstrip("-"))
            body = archive[start:]
            return Reply(206, body, {"Content-Type": "application/zip",
                                     "Content-Range": f"bytes {start}-{len(archive) - 1}/{len(archive)}"})  # fmt: skip
        if drop_after is not None and state["n"] == 1:
            return Reply(
                body=archive, headers={"Content-Type": "application/zip"}, truncate_to=drop_after
            )
        return Reply(body=archive, headers={"Content-Type": "application/zip"})

    return respond


def client() -> HttpClient:
    return HttpClient(policy=RetryPolicy(max_attempts=3, backoff_base=0.1), sleep=lambda s: None)


def run(srv: LocalServer, out: Path, years: list[int], **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("client", client())
    return fetch_baci(REL, "HS07", years, out=out, base_url=srv.url + "/DATA_DOWNLOAD/baci/data",
                      clock=lambda: FIXED, progress=False, **kw)  # fmt: skip


def test_archive_name_and_member_selection() -> None:
    assert archive_name("hs07", "202601") == "BACI_HS07_V202601.zip"
    assert archive_name("HS92", "202401b") == "BACI_HS92_V202401b.zip"
    with pytest.raises(ValueError, match="revision"):
        archive_name("HS08", "202601")
    with pytest.raises(ValueError, match="release"):
        archive_name("HS07", "2026")
    names = ["BACI_HS07_Y2009_V202601.csv", "BACI_HS07_Y2010_V202601.csv", "Readme.txt",
             "country_codes_V202601.csv", "product_codes_HS07_V202601.csv"]  # fmt: skip
    assert select_members(names, "HS07", [2010]) == [
        "BACI_HS07_Y2010_V202601.csv", "country_codes_V202601.csv", "product_codes_HS07_V202601.csv"
    ]  # fmt: skip


def test_download_checksum_and_only_asked_years(tmp_path: Path) -> None:
    archive = baci_zip([2009, 2010, 2011, 2012])
    with LocalServer(serve(archive)) as srv:
        summary = run(srv, tmp_path, [2010, 2012], expected_sha256=sha256_bytes(archive))
    assert summary.ok and summary.requests == 1
    assert srv.seen[0].path == f"/DATA_DOWNLOAD/baci/data/BACI_HS07_V{REL}.zip"
    zpath = tmp_path / f"BACI_HS07_V{REL}.zip"
    assert zpath.read_bytes() == archive
    meta = read_sidecar(zpath)
    assert (
        meta is not None
        and meta["sha256"] == sha256_bytes(archive)
        and meta["bytes"] == len(archive)
    )
    target = tmp_path / f"BACI_HS07_V{REL}"
    assert sorted(p.name for p in target.glob("*.csv")) == [
        f"BACI_HS07_Y2010_V{REL}.csv", f"BACI_HS07_Y2012_V{REL}.csv",
        f"country_codes_V{REL}.csv", f"product_codes_HS07_V{REL}.csv",
    ]  # fmt: skip
    assert (target / f"BACI_HS07_Y2010_V{REL}.csv").read_bytes() == year_csv(2010)
    ymeta = read_sidecar(target / f"BACI_HS07_Y2010_V{REL}.csv")
    assert ymeta is not None and ymeta["rows"] == 3 and ymeta["archive_sha256"] == meta["sha256"]
    # a second run downloads nothing and unpacks nothing; a new year unpacks from the kept archive
    with LocalServer(serve(archive)) as srv2:
        again = run(srv2, tmp_path, [2010, 2011])
    assert srv2.seen == [] and again.skipped == 1 + 3 and again.fetched == 1
    assert (target / f"BACI_HS07_Y2011_V{REL}.csv").read_bytes() == year_csv(2011)


def test_missing_year_and_checksum_mismatch_fail_clearly(tmp_path: Path) -> None:
    archive = baci_zip([2010])
    with LocalServer(serve(archive)) as srv:
        summary = run(srv, tmp_path / "a", [2010, 2015])
    assert summary.failed == 1 and "no file for year 2015" in summary.failures[0]
    with LocalServer(serve(archive)) as srv:
        bad = run(srv, tmp_path / "b", [2010], expected_sha256="0" * 64)
    assert bad.failed == 1 and "differs from the expected" in bad.failures[0]
    assert not (tmp_path / "b" / f"BACI_HS07_V{REL}.zip").exists()


def test_interrupted_download_resumes_by_range(tmp_path: Path) -> None:
    archive = baci_zip([2010, 2011]) + b""
    with LocalServer(serve(archive, drop_after=300)) as srv:
        summary = run(srv, tmp_path, [2011], client=HttpClient(
            policy=RetryPolicy(max_attempts=1), sleep=lambda s: None))  # fmt: skip
        assert not summary.ok  # the connection dropped: the part is kept, hidden
        part = tmp_path / f".BACI_HS07_V{REL}.zip.part"
        assert part.read_bytes() == archive[:300]
        summary = run(srv, tmp_path, [2011])
    assert summary.ok
    assert [s.headers.get("range") for s in srv.seen] == [None, "bytes=300-"]
    assert (tmp_path / f"BACI_HS07_V{REL}.zip").read_bytes() == archive
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize(
    ("name", "mode", "reason"),
    [
        ("../evil.csv", None, "'..' component"),
        ("sub/../../evil.csv", None, "'..' component"),
        ("/tmp/evil.csv", None, "absolute path"),
        ("C:\\evil.csv", None, "absolute path"),
        ("..\\evil.csv", None, "'..' component"),
        ("link.csv", stat.S_IFLNK | 0o777, "symbolic link"),
    ],
)
def test_zip_slip_refused_and_nothing_written(
    tmp_path: Path, name: str, mode: int | None, reason: str
) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"BACI_HS07_Y2010_V{REL}.csv", year_csv(2010))
        info = zipfile.ZipInfo(name)
        if mode is not None:
            info.external_attr = mode << 16
        zf.writestr(info, b"/etc/passwd" if mode else b"pwned")
    target = tmp_path / "out" / "inner"
    with pytest.raises(UnsafeArchive, match=reason):
        safe_extract(archive, [f"BACI_HS07_Y2010_V{REL}.csv", name], target)
    # nothing unpacked at all, not even the harmless member; nothing outside the target
    assert list(target.iterdir()) == []
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["evil.zip"]


def test_zip_slip_archive_served_over_http_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"BACI_HS07_Y2010_V{REL}.csv", year_csv(2010))
        zf.writestr(f"../BACI_HS07_Y2011_V{REL}.csv", b"pwned")
    with LocalServer(serve(buf.getvalue())) as srv:
        summary = run(srv, tmp_path / "out", [2010, 2011])
    assert not summary.ok and any("refused" in f for f in summary.failures)
    assert not (tmp_path / f"BACI_HS07_Y2011_V{REL}.csv").exists()
    assert list((tmp_path / "out" / f"BACI_HS07_V{REL}").glob("*.csv")) == []


def test_zip_bomb_stops_at_the_bound(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"BACI_HS07_Y2010_V{REL}.csv", year_csv(2010))
        zf.writestr(f"BACI_HS07_Y2011_V{REL}.csv", b"0" * (8 * 1024 * 1024))  # 8 MiB of zeros
    assert archive.stat().st_size < 64 * 1024
    target = tmp_path / "out"
    members = [f"BACI_HS07_Y2010_V{REL}.csv", f"BACI_HS07_Y2011_V{REL}.csv"]
    with pytest.raises(UnsafeArchive, match="over the bound"):
        safe_extract(archive, members, target, max_unpacked_bytes=1024 * 1024)
    assert list(target.iterdir()) == []


def test_lying_declared_sizes_are_refused_and_leave_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"BACI_HS07_Y2010_V{REL}.csv", year_csv(2010))
        zf.writestr(f"BACI_HS07_Y2011_V{REL}.csv", b"0" * (4 * 1024 * 1024))
    real_infolist = zipfile.ZipFile.infolist

    def lying_infolist(self):  # type: ignore[no-untyped-def]
        infos = real_infolist(self)
        for info in infos:
            info.file_size = min(info.file_size, 10)  # the central directory claims 10 bytes
        return infos

    monkeypatch.setattr(zipfile.ZipFile, "infolist", lying_infolist)
    target = tmp_path / "out"
    members = [f"BACI_HS07_Y2010_V{REL}.csv", f"BACI_HS07_Y2011_V{REL}.csv"]
    with pytest.raises(UnsafeArchive):
        safe_extract(archive, members, target, max_unpacked_bytes=1024 * 1024)
    assert [p for p in target.iterdir()] == []


def test_unpacked_csv_reads_with_the_baci_reader(tmp_path: Path) -> None:

    archive = baci_zip([2010])
    with LocalServer(serve(archive)) as srv:
        summary = run(srv, tmp_path, [2010])
    path = tmp_path / f"BACI_HS07_V{REL}" / f"BACI_HS07_Y2010_V{REL}.csv"
    reader = reader_module.BaciReader()
    assert reader.sniff(path)
    frame = reader.read(path).collect()
    assert frame.height == 3 and frame["reject_reason"].null_count() == 3
    row = frame.filter(frame["hs6"] == "280530").row(0, named=True)
    assert (row["exporter_iso3"], row["importer_iso3"]) == ("CHN", "JPN")
    assert row["value_usd"] == pytest.approx(1010.5 * 1000)
    assert row["net_weight_kg"] == pytest.approx(12.25 * 1000)
    assert summary.rows == 3 + 3 + 1  # the year file plus the two code tables' data lines


def test_archive_removed_after_unpacking_and_rerun_needs_no_download(tmp_path: Path) -> None:
    archive = baci_zip([2010, 2011])
    with LocalServer(serve(archive)) as srv:
        first = run(srv, tmp_path, [2010], keep_archive=False)
        assert first.ok and not (tmp_path / f"BACI_HS07_V{REL}.zip").exists()
        assert not (tmp_path / f"BACI_HS07_V{REL}.zip.meta").exists()
        n = len(srv.seen)
        again = run(srv, tmp_path, [2010])
        assert len(srv.seen) == n  # nothing asked: every wanted file is on disk and intact
        assert again.skipped == 3 and again.fetched == 0
        more = run(srv, tmp_path, [2010, 2011], keep_archive=False)  # a new year: download again
        assert len(srv.seen) == n + 1 and more.fetched >= 2


def test_corrupt_archive_fails_clearly_and_is_removed(tmp_path: Path) -> None:
    with LocalServer(serve(b"PK\x03\x04 this is not a whole zip")) as srv:
        summary = run(srv, tmp_path, [2010])
    assert summary.failed == 1 and "not a readable zip archive" in summary.failures[0]
    assert list(tmp_path.glob("*.zip*")) == []


def _bomb(path: Path, mib: int) -> None:
    """A zip whose one year member is ``mib`` MiB of one repeated byte (deflate, ~1,000:1)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(f"BACI_HS07_Y2010_V{REL}.csv", year_csv(2010))
        with zf.open(f"BACI_HS07_Y2011_V{REL}.csv", "w", force_zip64=True) as member:
            block = b"0" * (1 << 20)
            for _ in range(mib):
                member.write(block)


def test_compression_bomb_under_the_size_bound_is_refused_by_its_ratio(tmp_path: Path) -> None:
    """510 KiB that would unpack to 512 MiB: far under the 20 GiB bound, refused by the ratio."""
    archive = tmp_path / "bomb.zip"
    _bomb(archive, 512)
    size = archive.stat().st_size
    assert 500 * 1024 < size < 530 * 1024  # ~510 KiB
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(f"BACI_HS07_Y2011_V{REL}.csv")
    assert info.file_size == 512 * 1024**2 and info.file_size / info.compress_size > 1000
    assert info.file_size < MAX_UNPACKED_BYTES and MAX_COMPRESSION_RATIO == 100
    target = tmp_path / "out"
    members = [f"BACI_HS07_Y2010_V{REL}.csv", f"BACI_HS07_Y2011_V{REL}.csv"]
    with pytest.raises(UnsafeArchive, match=r"ratio 10\d\d\), over the bound of 100"):
        safe_extract(archive, members, target)
    assert list(target.iterdir()) == []  # refused before anything was written


def test_ordinary_csv_ratio_passes(tmp_path: Path) -> None:
    """A realistic BACI-like year (2 MiB of varied rows, ratio ~3-6) unpacks under the bound."""
    import random

    rng = random.Random(7)
    lines = ["t,i,j,k,v,q"] + [
        f"2010,{rng.randrange(4, 900)},{rng.randrange(4, 900)},{rng.randrange(10000, 970000):06d},"
        f"{rng.random() * 1e4:.3f},{rng.random() * 1e3:.3f}"
        for _ in range(50_000)
    ]
    data = ("\n".join(lines) + "\n").encode()
    archive = tmp_path / "ok.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"BACI_HS07_Y2010_V{REL}.csv", data)
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(f"BACI_HS07_Y2010_V{REL}.csv")
    assert info.file_size > 1 << 20 and 1.5 < info.file_size / info.compress_size < 10
    [path] = safe_extract(archive, [f"BACI_HS07_Y2010_V{REL}.csv"], tmp_path / "out")
    assert path.read_bytes() == data
