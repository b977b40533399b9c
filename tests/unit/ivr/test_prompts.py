"""IVR prompts through the real sox and espeak-ng: converted to 8 kHz mono, or refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from callctl.ivr_ops import prompts


def _soxi(path: Path, flag: str) -> str:
    return subprocess.run(["soxi", flag, str(path)], capture_output=True, text=True).stdout.strip()


@pytest.fixture
def tone(tmp_path: Path) -> Path:
    """1.5 s of 44.1 kHz stereo: what a recording studio might hand over."""
    source = tmp_path / "in.wav"
    subprocess.run(
        ["sox", "-n", "-r", "44100", "-c", "2", str(source), "synth", "1.5", "sine", "440"],
        check=True,
    )
    return source


async def test_uploaded_wav_is_converted_for_asterisk(tmp_path: Path, tone: Path) -> None:
    source = tone
    seconds = await prompts.store_upload(source.read_bytes(), tmp_path / "sounds", "welcome")
    stored = tmp_path / "sounds" / "callctl" / "welcome.wav"
    assert seconds == pytest.approx(1.5)
    assert (_soxi(stored, "-r"), _soxi(stored, "-c"), _soxi(stored, "-b")) == ("8000", "1", "16")
    assert prompts.prompt_ref("welcome") == "callctl/welcome"


async def test_not_audio_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with pytest.raises(prompts.PromptError) as refused:
        await prompts.store_upload(b"<html>not audio</html>", tmp_path / "sounds", "x")
    assert refused.value.error_id == "prompt.bad_audio"
    assert not (tmp_path / "sounds" / "callctl" / "x.wav").exists()


@pytest.mark.parametrize("name", ["../etc/passwd", "a;b", "Welcome", ""])
def test_unsafe_prompt_names_are_refused(name: str) -> None:
    with pytest.raises(prompts.PromptError) as refused:
        prompts.check_prompt_name(name)
    assert refused.value.detail == {"field": "name"}


async def test_espeak_speaks_a_zh_stand_in(tmp_path: Path) -> None:
    seconds = await prompts.synthesize("您好，欢迎致电12345热线", tmp_path, "greeting")
    stored = tmp_path / "callctl" / "greeting.wav"
    assert seconds > 0.5
    assert _soxi(stored, "-r") == "8000"
    with pytest.raises(prompts.PromptError):
        await prompts.synthesize("hi", tmp_path, "x", voice="klingon")
