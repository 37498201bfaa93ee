"""Make the shipped real extract: China's annual exports of HS 850511 (permanent magnets), 2002-2024.

    python analysis/make_real_extract.py [--source PATH] [--out data_raw/real]

Reads ``magnets_850511_flows_2002_2026.csv`` of ``../shared/data/real/critmat-atlas-comtrade-baci/``
(CEPII BACI HS02/HS17 V202601 via Varcolacus/critical-materials-atlas, see
``data_raw/real/SOURCES.md``) and writes ``BACI_magnets_850511_CHN_exports_2002-2024.csv``: the
source's own lines (header and column layout unchanged, bytes as in the source, source order) whose
exporter is China (``CN``) and whose year is 2002-2024. 2025 (raw UN Comtrade, provisional) and 2026
(a modelled nowcast, not data) are left out. Deterministic: the same source gives the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = (
    ROOT.parent / "shared" / "data" / "real" / "critmat-atlas-comtrade-baci"
    / "magnets_850511_flows_2002_2026.csv"
)  # fmt: skip
OUT_NAME = "BACI_magnets_850511_CHN_exports_2002-2024.csv"
HEADER = ["year", "exporter_iso2", "importer_iso2", "value_usd", "qty_tonnes", "source_note"]
EXPORTER = "CN"
YEARS = (2002, 2024)


def make_extract(source: Path, out_dir: Path) -> Path:
    """Write the extract of ``source`` into ``out_dir``; returns the written file.

    Raises ``ValueError`` naming the file and line when the source's header or a year differs from
    what the extract expects (the file then is not the one this script was written for).
    """
    lines = Path(source).read_bytes().decode("utf-8").splitlines(keepends=True)
    if not lines:
        raise ValueError(f"{source}: empty file")
    header = next(csv.reader([lines[0]]))
    if header != HEADER:
        raise ValueError(f"{source}, line 1: header {header}, expected {HEADER}")
    keep = [lines[0]]
    for i, line in enumerate(lines[1:], start=2):
        row = next(csv.reader([line]))
        try:
            year = int(row[0])
        except (ValueError, IndexError) as exc:
            raise ValueError(f"{source}, line {i}, field 'year': {row[:1]!r}") from exc
        if row[1] == EXPORTER and YEARS[0] <= year <= YEARS[1]:
            keep.append(line)
    out = Path(out_dir) / OUT_NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes("".join(keep).encode("utf-8"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--source", default=str(SOURCE))
    ap.add_argument("--out", default=str(ROOT / "data_raw" / "real"))
    args = ap.parse_args(argv)
    if not Path(args.source).is_file():
        print(f"{args.source}: not found (the shared data folder beside the repo)", file=sys.stderr)
        return 2
    out = make_extract(Path(args.source), Path(args.out))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
