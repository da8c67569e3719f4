"""The W&B behaviour the project relies on that has no public API, in one place.

- `settings()`: W&B quiet and without background collection. System metrics and machine metadata can only be
  switched off through W&B's internal `x_disable_*` settings.
- `read_run(path)`: what an offline run file (`run-<id>.wandb`) recorded. The file is W&B's private transaction
  log, and wandb >= 0.30 ships no Python reader for it. It is a LevelDB-style log
  (https://github.com/google/leveldb/blob/main/doc/log_format.md) with a 7-byte file header (`:W&B`, magic
  0xBEE1, version 0), then 32 KiB blocks of chunks, each chunk a 7-byte header (checksum uint32, length uint16,
  type uint8: FULL/FIRST/MIDDLE/LAST, little-endian) and its data. A block tail shorter than a chunk header is
  zero padding. The checksum is zlib's CRC-32 of the type byte followed by the data (what wandb's writers use,
  despite LevelDB's crc32c). Every reassembled payload is one internal `wandb_internal_pb2.Record` protobuf.

tests/test_wandb_adapter.py pins each of these against the installed wandb, so a release that changes one fails
there, with its version, instead of in a sweep or a report.
"""
from __future__ import annotations

import json
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

FILE_HEADER = struct.Struct("<4sHB")
CHUNK_HEADER = struct.Struct("<IHB")
BLOCK_SIZE = 32 * 1024
IDENT, MAGIC, VERSION = b":W&B", 0xBEE1, 0
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
INIT_TIMEOUT_S = 30


def settings() -> Any:
    """`wandb.Settings` for every run the project writes: nothing printed, stdout/stderr not wrapped, no git or
    code capture, and no system metrics, machine info or system metadata collected (a trial's run holds only what
    it logs)."""
    import wandb

    return wandb.Settings(silent=True, console="off", disable_git=True, save_code=False, show_info=False,
                          show_warnings=False, init_timeout=INIT_TIMEOUT_S, x_disable_stats=True,
                          x_disable_machine_info=True, x_disable_meta=True)


class WandbFileError(ValueError):
    """The file is not a W&B transaction log (wrong header)."""


def iter_payloads(path: str | Path) -> Iterator[bytes]:
    """Yield the raw record payloads of one `.wandb` file, in order.

    A torn tail (a run killed mid-write) ends the iteration quietly; a checksum mismatch ends it with a
    warning, keeping everything read before it.
    """
    data = Path(path).read_bytes()
    if len(data) < FILE_HEADER.size:
        raise WandbFileError(f"{path}: too short to be a W&B run file")
    ident, magic, version = FILE_HEADER.unpack_from(data, 0)
    if ident != IDENT or magic != MAGIC or version != VERSION:
        raise WandbFileError(f"{path}: not a W&B run file (header {ident!r}, magic {magic:#x}, version {version})")
    pos, pending = FILE_HEADER.size, None
    while pos + CHUNK_HEADER.size <= len(data):
        room = BLOCK_SIZE - pos % BLOCK_SIZE
        if room < CHUNK_HEADER.size:  # block trailer: zero padding
            pos += room
            continue
        checksum, length, kind = CHUNK_HEADER.unpack_from(data, pos)
        start, end = pos + CHUNK_HEADER.size, pos + CHUNK_HEADER.size + length
        if kind == 0 and length == 0 and checksum == 0:  # zero-filled (preallocated) space
            pos += room
            continue
        if end > len(data):
            return  # torn tail
        chunk = data[start:end]
        if zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != checksum:
            warnings.warn(f"{path}: checksum mismatch at byte {pos}; ignoring the rest of the file", stacklevel=2)
            return
        pos = end
        if kind == FULL:
            pending = None
            yield chunk
        elif kind == FIRST:
            pending = bytearray(chunk)
        elif kind == MIDDLE and pending is not None:
            pending += chunk
        elif kind == LAST and pending is not None:
            yield bytes(pending + chunk)
            pending = None


def iter_records(path: str | Path) -> Iterator[Any]:
    """Yield the decoded `Record` protobufs of one `.wandb` file."""
    from wandb.proto import wandb_internal_pb2

    for payload in iter_payloads(path):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        yield record


@dataclass
class WandbRun:
    """What one offline run recorded: identity, config, per-step history, final summary, exit."""

    path: Path
    run_id: str = ""
    name: str = ""
    group: str = ""
    project: str = ""
    job_type: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None

    @property
    def files_dir(self) -> Path:
        return self.path.parent / "files"

    def table(self, key: str) -> dict[str, list] | None:
        """The `wandb.Table` logged under `key` as {column: values}: the summary holds a reference to the table's
        JSON file in the run's files (None if there is none or it cannot be read)."""
        ref = self.summary.get(key)
        if not isinstance(ref, dict) or not isinstance(ref.get("path"), str):
            return None
        try:
            table = json.loads((self.files_dir / ref["path"]).read_text())
            return {column: [row[index] for row in table["data"]] for index, column in enumerate(table["columns"])}
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return None


def read_run(path: str | Path) -> WandbRun:
    """Replay one run file: config and summary updates applied in order, history rows collected."""
    run = WandbRun(path=Path(path))
    for record in iter_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            info = record.run
            run.run_id, run.project = info.run_id, info.project
            run.group, run.job_type, run.name = info.run_group, info.job_type, info.display_name
            _apply(run.config, info.config.update, info.config.remove)
            _apply(run.summary, info.summary.update, info.summary.remove)
        elif kind == "config":
            _apply(run.config, record.config.update, record.config.remove)
        elif kind == "summary":
            _apply(run.summary, record.summary.update, record.summary.remove)
        elif kind == "history":
            row: dict[str, Any] = {}
            for item in record.history.item:
                _set(row, _key(item), _history_value(item))
            run.history.append(row)
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    run.config.pop("_wandb", None)
    run.summary.pop("_wandb", None)
    return run


def _key(item: Any) -> list[str]:
    return list(item.nested_key) if item.nested_key else [item.key]


def _apply(target: dict[str, Any], updates: Any, removals: Any = ()) -> None:
    for item in updates:
        _set(target, _key(item), _loads(item.value_json))
    for item in removals:
        keys, node = _key(item), target
        for part in keys[:-1]:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(keys[-1], None)


def _set(target: dict[str, Any], keys: list[str], value: Any) -> None:
    node = target
    for part in keys[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[keys[-1]] = value


def _history_value(item: Any) -> Any:
    which = item.WhichOneof("value")
    if which is None or which == "json":
        return _loads(item.value_json or item.json)
    return None if which == "none" else getattr(item, which)


def _loads(text: str) -> Any:
    if not text:
        return None
    try:
        value = json.loads(text)  # accepts NaN / Infinity as wandb writes them
    except json.JSONDecodeError:
        return text
    return value
