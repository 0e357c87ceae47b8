"""Safe unpacking of uploaded zip archives (zipped shapefiles, zipped FileGDB)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath

from app.domain.errors import EcoError, InputRefused

MAX_RATIO = 200  # a larger expansion of a big entry is treated as a zip bomb
MAX_ENTRIES = 10_000


def _refuse(code: str, zh: str, en: str, status: int = 422, **detail: object) -> InputRefused:
    return InputRefused(code, zh, en, status=status, detail=dict(detail))


def safe_extract(path: Path | bytes | bytearray | memoryview, dest: Path, max_total_bytes: int) -> list[Path]:
    """Extract ``path`` (or an archive's bytes) into ``dest`` refusing traversal, links, bombs and broken
    archives.

    ``__MACOSX`` resource forks and dot-files are skipped. Returns the extracted files.
    """
    try:
        zf = zipfile.ZipFile(path if isinstance(path, Path) else io.BytesIO(path))
    except Exception as exc:  # BadZipFile, OSError, a name flagged UTF-8 that is not, an unknown version …
        raise _refuse("E_ZIP_BROKEN", "压缩包已损坏或不是 zip 文件", "The archive is broken or not a zip file",
                      reason=str(exc)) from None
    out: list[Path] = []
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise _refuse("E_ZIP_TOO_MANY", "压缩包内文件过多", "Too many entries in the archive", status=413,
                          entries=len(infos))
        total = 0
        archive_size = max(path.stat().st_size if isinstance(path, Path) else len(path), 1)
        for info in infos:
            name = info.filename.replace("\\", "/")
            parts = PurePosixPath(name).parts
            if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
                raise _refuse("E_ZIP_PATH", f"压缩包含有不安全的路径：{name}",
                              f"The archive holds an unsafe path: {name}", entry=name)
            mode = (info.external_attr >> 16) & 0o170000
            if mode == 0o120000:
                raise _refuse("E_ZIP_PATH", f"压缩包含有符号链接：{name}",
                              f"The archive holds a symbolic link: {name}", entry=name)
            total += info.file_size
            if total > max_total_bytes:
                raise _refuse("E_ZIP_TOO_LARGE", "压缩包解压后过大", "The archive expands beyond the size limit",
                              status=413, limit_bytes=max_total_bytes)
            if total > 50_000_000 and total / archive_size > MAX_RATIO:
                raise _refuse("E_ZIP_BOMB", "压缩包解压后体积与压缩体积之比异常（疑似 zip 炸弹）",
                              "The archive expands suspiciously (zip bomb)", status=413)
            if info.file_size > 10_000_000 and info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
                raise _refuse("E_ZIP_BOMB", f"压缩包条目 {name} 压缩比异常（疑似 zip 炸弹）",
                              f"Entry {name} expands suspiciously (zip bomb)", status=413, entry=name)
        for info in infos:
            name = info.filename.replace("\\", "/")
            parts = PurePosixPath(name).parts
            if not parts or info.is_dir() or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
                continue
            target = dest.joinpath(*parts)
            written = 0
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > info.file_size:  # lying header
                            raise _refuse("E_ZIP_BOMB", f"压缩包条目 {name} 实际大小与声明不符",
                                          f"Entry {name} is larger than it declares", status=413, entry=name)
                        dst.write(chunk)
            except EcoError:
                raise
            except Exception as exc:  # bad data (zlib, lzma), encrypted, a bad local name, an unknown method …
                raise _refuse("E_ZIP_BROKEN", f"压缩包条目 {name} 无法解压", f"Entry {name} cannot be extracted",
                              entry=name, reason=str(exc)) from None
            out.append(target)
    if not out:
        raise _refuse("E_ZIP_EMPTY", "压缩包中没有文件", "The archive holds no files")
    return out
