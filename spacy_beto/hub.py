"""Fail fast when a Hugging Face hub name cannot be loaded: offline and not in the local cache.

Without this, transformers retries the hub for ~50 s before it gives up (and a project
workflow prints hundreds of lines first). `check_hub_name` answers within a few seconds: it
reads HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE, looks for the model in the local Hugging Face
cache, and otherwise opens one TCP connection to the hub with a short timeout.
"""

import os
import socket
import threading
from pathlib import Path
from typing import List, Optional, Tuple
from urllib.parse import urlparse

from .errors import BetoConfigError
from .layers.model_dir import looks_like_path

DEFAULT_ENDPOINT = "https://huggingface.co"
HUB_TIMEOUT_S = 3.0
_TRUE = {"1", "on", "yes", "true"}


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def _endpoint() -> Tuple[str, int]:
    """Host and port of the hub (HF_ENDPOINT, read at call time)."""
    url = urlparse(os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).strip() or DEFAULT_ENDPOINT)
    host = url.hostname or "huggingface.co"
    port = url.port or (80 if url.scheme == "http" else 443)
    return host, port


def _connect(host: str, port: int, timeout: float, result: List[Optional[str]]) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            result.append(None)
    except OSError as err:
        result.append(f"{type(err).__name__}: {err}")


def offline_reason(*, timeout: float = HUB_TIMEOUT_S) -> Optional[str]:
    """Why the hub cannot be reached now (offline mode, no connection), or None if it can.

    The connection runs in a daemon thread so that a hanging DNS lookup (which ignores socket
    timeouts) cannot stall the caller beyond `timeout` seconds.
    """
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if _env_true(var):
            return f"{var}={os.environ[var]} is set (offline mode)"
    host, port = _endpoint()
    result: List[Optional[str]] = []
    thread = threading.Thread(target=_connect, args=(host, port, timeout, result), daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        return f"{host}:{port} did not answer within {timeout:g} s (no network?)"
    if result[0] is not None:
        return f"{host}:{port} cannot be reached ({result[0]})"
    return None


def is_cached(name: str) -> bool:
    """True if the hub model `name` is in the local Hugging Face cache (its config.json)."""
    from huggingface_hub import constants, try_to_load_from_cache

    cache_dir = os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE
    try:
        found = try_to_load_from_cache(name, "config.json", cache_dir=cache_dir)
    except Exception:  # an invalid repo id is simply not cached
        return False
    return isinstance(found, str)


def hub_error_message(name: str, reason: str, *, setting: str) -> str:
    """The message for a hub name that cannot be fetched: names `setting`, the knob to change."""
    local = Path(name).expanduser().resolve()
    return (
        f"The transformer '{name}' is not a local directory ('{local}' does not exist), so it "
        f"would be fetched from the Hugging Face hub, but {reason} and it is not in the local "
        f"Hugging Face cache. Set {setting} to a local model directory (config.json, weights and "
        f"vocab.txt, e.g. a copy of BETO saved with save_pretrained(), or one built by "
        f"`python -m spacy_beto build-mini`), or run with internet access."
    )


def check_hub_name(name: str, *, setting: str, timeout: float = HUB_TIMEOUT_S) -> None:
    """Raise BetoConfigError within ~`timeout` s if `name` is a hub name that cannot be loaded.

    Local directories (see `looks_like_path`) and hub names in the local cache pass without a
    network check. `setting` is what the user changes, e.g. "[components.transformer.model]
    name" for a pipeline or "--vars.transformer" for the project workflow.
    """
    name = str(name)
    if looks_like_path(name) or is_cached(name):
        return
    reason = offline_reason(timeout=timeout)
    if reason is not None:
        raise BetoConfigError(hub_error_message(name, reason, setting=setting))
