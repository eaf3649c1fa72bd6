"""How much of a file a load reads: an XLSX is judged by its zip directory before it is
opened, and rows stop at the cap on both the columnar and the row-by-row path."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from blotter.errors import FileTooLarge
from blotter.ingest.bounds import ReadLimits, check_zip
from blotter.ingest.pipeline import prepare
from blotter.ingest.readers import open_table


def zip_bomb(path: Path, unpacked_mb: int) -> Path:
    """A workbook-shaped zip of a few hundred bytes whose sheet declares ``unpacked_mb``:
    the sizes in its local and central headers are rewritten (writing hundreds of MB of
    real data would make the test slow; the declared size is what a reader would unpack)."""
    name = b"xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr(name.decode(), b" " * 65536)
    data = bytearray(path.read_bytes())
    size = struct.pack("<I", unpacked_mb << 20)
    for signature, name_at, size_at in ((b"PK\x03\x04", 30, 22), (b"PK\x01\x02", 46, 24)):
        at = data.index(signature)
        while data[at + name_at : at + name_at + len(name)] != name:
            at = data.index(signature, at + 1)
        data[at + size_at : at + size_at + 4] = size
    path.write_bytes(bytes(data))
    return path


def test_a_zip_bomb_is_refused_by_its_ratio_before_it_is_opened(tmp_path: Path) -> None:
    bomb = zip_bomb(tmp_path / "bomb.xlsx", 300)
    assert bomb.stat().st_size < 4096
    assert zipfile.ZipFile(bomb).getinfo("xl/worksheets/sheet1.xml").file_size == 300 << 20
    with pytest.raises(FileTooLarge) as err:
        open_table(bomb)
    assert err.value.status == 413 and err.value.code == "ingest.too-large"
    assert "xl/worksheets/sheet1.xml unpacks" in err.value.message
    assert "it was not opened" in err.value.message
    assert err.value.data["part"] == "xl/worksheets/sheet1.xml" and err.value.data["ratio"] > 200


def test_a_workbook_past_the_unpacked_size_is_refused_by_its_directory(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["case", "note"])
    for i in range(3000):
        sheet.append([f"c{i}", f"note {i * 7919 % 100003}"])
    path = tmp_path / "big.xlsx"
    book.save(path)
    unpacked = sum(p.file_size for p in zipfile.ZipFile(path).infolist())
    check_zip(path, ReadLimits(max_unpacked_bytes=unpacked))  # at the limit: fine
    with pytest.raises(FileTooLarge, match="unpacks to .* MB, more than the 0 MB"):
        open_table(path, limits=ReadLimits(max_unpacked_bytes=unpacked - 1))
    assert sum(1 for _ in open_table(path).rows) == 3000


@pytest.mark.parametrize("columnar_path", [True, False])
def test_rows_stop_at_the_cap_on_both_paths(tmp_path: Path, columnar_path: bool) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("case,age\n" + "".join(f"c{i},{i}\n" for i in range(50)))
    at_cap = prepare(path, None, limits=ReadLimits(max_rows=50))
    at_cap.columnar = columnar_path
    assert sum(b.num_rows for b in at_cap.batches()) == 50
    past = prepare(path, None, limits=ReadLimits(max_rows=49))
    past.columnar = columnar_path
    with pytest.raises(FileTooLarge, match="more than 49 data rows") as err:
        list(past.batches())
    assert err.value.data["max_rows"] == 49


def test_rows_stop_at_the_cap_in_a_workbook(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["case"])
    for i in range(20):
        sheet.append([f"c{i}"])
    path = tmp_path / "rows.xlsx"
    book.save(path)
    with pytest.raises(FileTooLarge, match="more than 10 data rows"):
        list(prepare(path, None, limits=ReadLimits(max_rows=10)).batches())
