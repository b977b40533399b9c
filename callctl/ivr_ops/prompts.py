"""IVR prompts: uploaded audio checked and converted with sox to what Asterisk plays
(8 kHz mono 16-bit WAV), or a stand-in synthesized with espeak-ng (zh-CN by default).

The tools run without a shell, their arguments built here; the text to speak goes
to espeak-ng on stdin. A prompt is stored as ``<prompts_dir>/callctl/<name>.wav`` and
named ``callctl/<name>`` in flows.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path

from callctl.errors import ReportedError

PROMPT_FOLDER = "callctl"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_SECONDS = 300.0
MAX_TEXT_CHARS = 500
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_VOICES = frozenset({"cmn", "en"})
_TOOL_TIMEOUT_S = 60


class PromptError(ReportedError):
    def __init__(self, error_id: str, message: str, field: str) -> None:
        super().__init__(422, error_id, message, {"field": field})


def check_prompt_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise PromptError("prompt.invalid_name", "a prompt name is [a-z0-9_-], 1-64", "name")
    return name


def prompt_ref(name: str) -> str:
    """How flows name the prompt (a sound name relative to Asterisk's sounds dir)."""
    return f"{PROMPT_FOLDER}/{check_prompt_name(name)}"


async def _run(*argv: str, stdin: bytes | None = None) -> tuple[int, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(stdin), _TOOL_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out


async def convert(source: Path, target: Path) -> float:
    """Check ``source`` is audio sox reads, at most ``MAX_SECONDS`` long, and write it as
    8 kHz mono 16-bit WAV to ``target``; its length in seconds."""
    code, out = await _run("soxi", "-D", str(source))
    try:
        seconds = float(out.decode("ascii", "replace").strip()) if code == 0 else -1.0
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise PromptError("prompt.bad_audio", "not audio sox can read (WAV, FLAC, OGG ...)", "file")
    if seconds > MAX_SECONDS:
        raise PromptError("prompt.too_long", f"longer than {MAX_SECONDS:.0f} s", "file")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.wav")
    code, out = await _run(
        "sox", str(source), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer",
        str(partial),
    )  # fmt: skip
    if code != 0:
        partial.unlink(missing_ok=True)
        raise PromptError("prompt.bad_audio", "sox could not convert it", "file")
    partial.replace(target)
    return seconds


async def store_upload(data: bytes, prompts_dir: Path, name: str) -> float:
    if not data or len(data) > MAX_UPLOAD_BYTES:
        raise PromptError("prompt.bad_audio", "empty, or larger than 20 MB", "file")
    target = prompts_dir / PROMPT_FOLDER / f"{check_prompt_name(name)}.wav"
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "upload"
        source.write_bytes(data)
        return await convert(source, target)


async def synthesize(text: str, prompts_dir: Path, name: str, voice: str = "cmn") -> float:
    """A stand-in prompt spoken by espeak-ng (``cmn``: Mandarin)."""
    if not text.strip() or len(text) > MAX_TEXT_CHARS or "\x00" in text:
        raise PromptError("prompt.bad_text", f"1-{MAX_TEXT_CHARS} characters", "text")
    if voice not in _VOICES:
        raise PromptError("prompt.bad_voice", f"one of {sorted(_VOICES)}", "voice")
    target = prompts_dir / PROMPT_FOLDER / f"{check_prompt_name(name)}.wav"
    with tempfile.TemporaryDirectory() as tmp:
        spoken = Path(tmp) / "spoken.wav"
        code, _ = await _run(
            "espeak-ng", "-v", voice, "-w", str(spoken), "--stdin", stdin=text.encode()
        )
        if code != 0:
            raise PromptError("prompt.synthesis_failed", "espeak-ng failed", "text")
        return await convert(spoken, target)
