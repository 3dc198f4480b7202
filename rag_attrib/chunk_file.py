"""Chunks from a file (``rag-attrib attribute --chunks FILE``): JSON, JSONL or plain text."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .errors import ChunkFileError, InvalidChunksError, NoChunksError
from .types import Chunk, as_chunks


def read_text(path: str | Path, what: str, error: type[Exception], wanted: str = "a UTF-8 text file") -> str:
    """The file's text, or ``error`` naming ``what`` the file is, what is wrong and the fix (``wanted``: the kind of
    file to pass instead of a directory)."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")  # -sig: a byte order mark is not part of the text
    except FileNotFoundError:
        raise error(f"{what} {str(path)!r} does not exist; check the path") from None
    except IsADirectoryError:
        raise error(f"{what} {str(path)!r} is a directory; pass {wanted}") from None
    except UnicodeDecodeError as err:
        raise error(f"{what} {str(path)!r} is not UTF-8 text ({err.reason}); save it as UTF-8") from None
    except OSError as err:
        raise error(f"cannot read {what} {str(path)!r}: {err.strerror or err}") from None


def read_chunks(path: str | Path) -> tuple[Chunk, ...]:
    """Chunks from a file: JSON (a list), JSONL (one item per line), or plain text (blank-line separated).

    A JSON/JSONL item is a string or an object with ``"text"`` and optional ``"id"`` and ``"metadata"``.
    ``.json`` and ``.jsonl``/``.ndjson`` files are read as such; any other file is read as JSON or JSONL
    when it parses as one, else as plain text.
    """
    path = Path(path)
    text = read_text(path, "chunks file", ChunkFileError, "a .json, .jsonl or .txt file")
    suffix = path.suffix.lower()
    if suffix == ".json":
        items = _parse_json(text, path)
    elif suffix in (".jsonl", ".ndjson"):
        items = _parse_jsonl(text, path)
    else:
        items = _sniff(text, path)

    if not items:
        raise NoChunksError(
            f"no chunks in {str(path)!r}: give a JSON list, one JSON item per line, or plain-text passages "
            "separated by blank lines"
        )
    for n, item in enumerate(items, start=1):
        if isinstance(item, dict):
            if "text" not in item:
                raise ChunkFileError(f"chunk {n} in {str(path)!r} has no \"text\" key (keys: {sorted(item)})")
            if not isinstance(item["text"], str):
                raise ChunkFileError(f"chunk {n} in {str(path)!r}: \"text\" must be a string")
            if item.get("metadata") is not None and not isinstance(item["metadata"], dict):
                raise ChunkFileError(f"chunk {n} in {str(path)!r}: \"metadata\" must be an object")
        elif not isinstance(item, str):
            raise ChunkFileError(
                f"chunk {n} in {str(path)!r} is a JSON {type(item).__name__}; use a string or an object with "
                "a \"text\" key"
            )
    try:
        return as_chunks(items)
    except NoChunksError:
        raise
    except InvalidChunksError as err:  # say which file the bad chunk came from
        raise ChunkFileError(f"{str(path)!r}: {err}") from None


def _parse_json(text: str, path: Path) -> list[Any]:
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ChunkFileError(f"{str(path)!r} is not valid JSON: {err}") from None
    if not isinstance(data, list):
        raise ChunkFileError(
            f"{str(path)!r} holds a JSON {type(data).__name__}; the chunks file must be a JSON list of strings "
            "or of objects with a \"text\" key"
        )
    return data


def _parse_jsonl(text: str, path: Path) -> list[Any]:
    items = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ChunkFileError(f"{str(path)!r} line {n} is not valid JSON: {err}") from None
    return items


def _sniff(text: str, path: Path) -> list[Any]:
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            pass
        else:
            if isinstance(data, list):
                return data
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and all(line.lstrip().startswith(("{", '"')) for line in lines):
        try:
            return [json.loads(line) for line in lines]
        except json.JSONDecodeError:
            pass
    return _parse_text(text, path)


def _parse_text(text: str, path: Path) -> list[str]:
    passages = [part.strip() for part in re.split(r"\n[ \t]*\n", text) if part.strip()]
    lines = passages[0].splitlines() if len(passages) == 1 else []
    labels = [re.match(r"\s*\[(\d+)\]", line) for line in lines]
    if len(lines) > 1 and all(labels) and [int(m[1]) for m in labels] == list(range(1, len(lines) + 1)):
        # "[1] ...\n[2] ...": numbered like a prompt's chunks, one per line, but read as one passage
        raise ChunkFileError(
            f"{str(path)!r} reads as one passage of {len(lines)} numbered lines ({lines[0][:30]!r}...); plain-text "
            "chunks are separated by blank lines: put an empty line between them and drop the [n] labels (the "
            "prompt numbers chunks itself), or give a JSON list"
        )
    return passages
