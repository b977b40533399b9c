"""Run SIPp as the lab's callers and agents, from the scenarios in ``sipp/``."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

# Lab only: the scenarios live in the checkout, never in the installed package.
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "sipp"
_PLACEHOLDER = re.compile(r"@@([a-z_]+)@@")


class SippError(Exception):
    error_id = "lab.sipp_failed"


_SAFE_PATH = re.compile(r"/[A-Za-z0-9_./+-]{1,250}")


def render_scenario(
    name: str, values: dict[str, int | Path], out_dir: Path, *, steps: str = ""
) -> Path:
    """The scenario with its values filled in (and ``@@steps@@``, built here, if any)."""
    template = (SCENARIO_DIR / name).read_text(encoding="ascii").replace("@@steps@@", steps)

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise SippError(f"scenario {name}: no value for @@{key}@@")
        value = values[key]
        if isinstance(value, Path):  # a file for SIPp to play (rtp_stream)
            if not _SAFE_PATH.fullmatch(str(value)):
                raise SippError(f"scenario {name}: {value} is not a plain absolute path")
            return str(value)
        return str(int(value))

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / name
    target.write_text(_PLACEHOLDER.sub(sub, template), encoding="ascii")
    return target


@dataclass(frozen=True, slots=True)
class Caller:
    number: str
    name: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"\+?[0-9]{3,20}", self.number):
            raise SippError(f"caller number {self.number!r} is not 3-20 digits")
        if not re.fullmatch(r"[^\";\r\n\x00<>]{1,40}", self.name):
            raise SippError(f"caller name {self.name!r} is not a safe display name")


def write_callers(callers: list[Caller], path: Path) -> Path:
    lines = ["SEQUENTIAL"] + [f"{c.number};{c.name};" for c in callers]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class CallerRun:
    """One batch of callers with the same patience and talk time."""

    calls: int
    rate_per_s: float = 5.0
    patience_s: float = 60.0
    talk_s: float = 3600.0  # the caller hangs up after this much talk; agents usually first
    concurrency: int = 500
    service: str = "12345"
    callers: list[Caller] = field(default_factory=list)
    scenario: str = "caller.xml"  # caller_via_proxy.xml: through Kamailio (Record-Route)
    audio: Path | None = None  # a mu-law WAV the caller sends (scenario caller_audio.xml)


@dataclass(frozen=True, slots=True)
class SippResult:
    returncode: int
    successful: int
    failed: int
    counts: dict[str, int]
    screen: str


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise SippError("sipp not found (Debian package sip-tester; run scripts/setup)")
    return path


def _parse_screen(screen: str) -> tuple[int, int, dict[str, int]]:
    successful = failed = 0
    m = re.search(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", screen)
    if m:
        successful = int(m.group(1))
    m = re.search(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", screen)
    if m:
        failed = int(m.group(1))
    counts: dict[str, int] = {}
    # Message rows look like "      200 <----   E-RTD1  12  0  0" or "INVITE ---------->  12".
    for row in re.finditer(
        r"^\s*([A-Z]+|\d{3})\s+(<-+|-+>)\s+(?:E-RTD\d\s+|B-RTD\d\s+)?(\d+)", screen, re.M
    ):
        # The same message can appear at several places in a scenario: number them.
        base = f"{row.group(1)} {'in' if row.group(2).startswith('<') else 'out'}"
        key, n = base, 1
        while key in counts:
            n += 1
            key = f"{base} #{n}"
        counts[key] = int(row.group(3))
    return successful, failed, counts


async def run_callers(
    run: CallerRun, *, work_dir: Path, local_ip: str, remote: str, timeout_s: float
) -> SippResult:
    values: dict[str, int | Path] = {
        "patience_ms": int(run.patience_s * 1000),
        "caller_talk_ms": int(run.talk_s * 1000),
    }
    if run.audio is not None:
        values["audio_file"] = run.audio
    scenario = render_scenario(run.scenario, values, work_dir)
    return await _run_caller_scenario(
        scenario, run, work_dir=work_dir, local_ip=local_ip, remote=remote, timeout_s=timeout_s
    )


@dataclass(frozen=True, slots=True)
class SurveyRun:
    """Callers of a line with the post-call survey who press ``digit`` (RFC 4733)
    ``dtmf_after_s`` after being answered (sipp/survey_caller.xml)."""

    calls: int
    digit: int
    service: str
    dtmf_after_s: float = 3.5
    rate_per_s: float = 2.0
    patience_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.digit <= 9:
            raise SippError(f"DTMF digit {self.digit} is not 0-9")


async def run_survey_callers(
    run: SurveyRun, *, work_dir: Path, local_ip: str, remote: str, timeout_s: float
) -> SippResult:
    scenario = render_scenario(
        "survey_caller.xml",
        {
            "patience_ms": int(run.patience_s * 1000),
            "dtmf_after_ms": int(run.dtmf_after_s * 1000),
            "digit": run.digit,
        },
        work_dir,
    )
    callers = CallerRun(
        calls=run.calls, rate_per_s=run.rate_per_s, service=run.service, scenario=scenario.name
    )
    return await _run_caller_scenario(
        scenario, callers, work_dir=work_dir, local_ip=local_ip, remote=remote, timeout_s=timeout_s
    )


PCAP_DIR = Path("/usr/share/sip-tester")
_PCAP_NAMES = {"*": "star", "#": "pound", **{d: d for d in "0123456789"}}
AUDIO = "audio"
"""A step that plays a few seconds of speech (g711a.pcap) instead of a digit."""


@dataclass(frozen=True, slots=True)
class DtmfRun:
    """Callers of an IVR line who, after being answered, wait and press keys.

    ``steps``: (seconds to wait, digit 0-9 * # or ``AUDIO``), in order; then the
    caller stays ``hold_s`` and hangs up, unless Asterisk hangs up first.
    """

    service: str
    steps: tuple[tuple[float, str], ...]
    hold_s: float = 5.0
    calls: int = 1
    rate_per_s: float = 1.0
    callers: tuple[Caller, ...] = ()

    def __post_init__(self) -> None:
        for _, key in self.steps:
            if key != AUDIO and key not in _PCAP_NAMES:
                raise SippError(f"DTMF key {key!r} is not 0-9, * or #")


def _steps_xml(steps: tuple[tuple[float, str], ...]) -> str:
    out = []
    for wait_s, key in steps:
        pcap = PCAP_DIR / ("g711a.pcap" if key == AUDIO else f"dtmf_2833_{_PCAP_NAMES[key]}.pcap")
        out.append(
            f'  <pause milliseconds="{int(wait_s * 1000)}"/>\n'
            f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'
        )
    return "".join(out)


async def run_dtmf_callers(
    run: DtmfRun, *, work_dir: Path, local_ip: str, remote: str, timeout_s: float
) -> SippResult:
    scenario = render_scenario(
        "ivr_caller.xml",
        {"patience_ms": 30_000, "hold_ms": int(run.hold_s * 1000)},
        work_dir,
        steps=_steps_xml(run.steps),
    )
    callers = CallerRun(
        calls=run.calls,
        rate_per_s=run.rate_per_s,
        service=run.service,
        callers=list(run.callers),
        scenario=scenario.name,
    )
    return await _run_caller_scenario(
        scenario, callers, work_dir=work_dir, local_ip=local_ip, remote=remote, timeout_s=timeout_s
    )


async def _run_caller_scenario(
    scenario: Path,
    run: CallerRun,
    *,
    work_dir: Path,
    local_ip: str,
    remote: str,
    timeout_s: float,
) -> SippResult:
    callers = run.callers or [
        Caller(number=f"1380000{i:04d}", name="市民") for i in range(run.calls)
    ]
    inf = write_callers(callers, work_dir / "callers.csv")
    cmd = [
        sipp_binary(),
        remote,
        "-sf",
        str(scenario),
        "-inf",
        str(inf),
        "-s",
        run.service,
        "-i",
        local_ip,
        "-p",
        "0",
        "-m",
        str(run.calls),
        "-r",
        str(run.rate_per_s),
        "-l",
        str(run.concurrency),
        "-trace_screen",
        "-screen_file",
        str(work_dir / "caller-screen.log"),
        "-nostdin",
        "-timeout_error",
        "-timeout",
        f"{int(timeout_s)}s",
        "-aa",
    ]
    return await _run(cmd, work_dir / "caller-screen.log", timeout_s + 30)


@dataclass(frozen=True, slots=True)
class SipAccount:
    """An agent's softphone credentials (digest auth), as SIPp's -au/-ap."""

    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.username):
            raise SippError(f"SIP user name {self.username!r} is not a plain identifier")
        if not re.fullmatch(r"[A-Za-z0-9_.~+/=-]{1,128}", self.password):
            raise SippError("SIP password has characters a command line should not carry")


def free_udp_port(ip: str) -> int:
    """A UDP port free on ``ip`` right now (SIPp takes -p 0 as 5060, where the agents'
    UAS may already listen)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((ip, 0))
        port: int = probe.getsockname()[1]
        return port


_FEATURE_CODE = re.compile(r"\*[0-9]{2,4}")


async def _run_as_agent(
    scenario: Path,
    account: SipAccount,
    dialed: str,
    *,
    work_dir: Path,
    local_ip: str,
    remote: str,
    timeout_s: float,
) -> SippResult:
    inf = work_dir / f"{scenario.stem}-account.csv"
    inf.write_text(f"SEQUENTIAL\n{account.username};\n", encoding="ascii")
    screen = work_dir / f"{scenario.stem}-screen.log"
    screen.unlink(missing_ok=True)
    cmd = [
        sipp_binary(),
        remote,
        "-sf",
        str(scenario),
        "-inf",
        str(inf),
        "-s",
        dialed,
        "-au",
        account.username,
        "-ap",
        account.password,
        "-i",
        local_ip,
        "-p",
        str(free_udp_port(local_ip)),
        "-m",
        "1",
        "-trace_screen",
        "-screen_file",
        str(screen),
        "-nostdin",
        "-timeout_error",
        "-timeout",
        f"{int(timeout_s)}s",
    ]
    return await _run(cmd, screen, timeout_s + 30)


async def register(
    account: SipAccount,
    *,
    work_dir: Path,
    local_ip: str,
    remote: str,
    expires_s: int = 300,
    timeout_s: float = 20,
) -> SippResult:
    """REGISTER with digest auth; ``counts`` has "200 in" once registered, or "401 in #2"
    / "403 in" when the credentials were refused. ``expires_s=0``: remove every
    registration of the agent (``Contact: *``)."""
    if expires_s == 0:
        scenario = render_scenario("unregister.xml", {}, work_dir)
    else:
        scenario = render_scenario("register.xml", {"expires_s": expires_s}, work_dir)
    return await _run_as_agent(
        scenario,
        account,
        account.username,
        work_dir=work_dir,
        local_ip=local_ip,
        remote=remote,
        timeout_s=timeout_s,
    )


async def dial_feature_code(
    account: SipAccount,
    code: str,
    *,
    work_dir: Path,
    local_ip: str,
    remote: str,
    timeout_s: float = 20,
) -> SippResult:
    """Dial a feature code (``*21`` log in, ``*23<n>`` pause...) as the agent, with auth."""
    if not _FEATURE_CODE.fullmatch(code):
        raise SippError(f"feature code {code!r} is not * and 2-4 digits")
    scenario = render_scenario("feature.xml", {}, work_dir)
    return await _run_as_agent(
        scenario,
        account,
        code,
        work_dir=work_dir,
        local_ip=local_ip,
        remote=remote,
        timeout_s=timeout_s,
    )


async def start_agents(
    *,
    work_dir: Path,
    local_ip: str,
    port: int,
    ring_s: float,
    talk_s: float,
    audio: Path | None = None,
) -> asyncio.subprocess.Process:
    """Start the agents' UAS (sending ``audio``, a mu-law WAV, when given); stop it
    with ``stop_agents``."""
    values: dict[str, int | Path] = {"ring_ms": int(ring_s * 1000), "talk_ms": int(talk_s * 1000)}
    if audio is not None:
        values["audio_file"] = audio
    name = "agents.xml" if audio is None else "agents_audio.xml"
    scenario = render_scenario(name, values, work_dir)
    return await _start_uas(scenario, work_dir=work_dir, local_ip=local_ip, port=port)


async def start_citizens(
    *, work_dir: Path, local_ip: str, port: int, talk_s: float
) -> asyncio.subprocess.Process:
    """Start the citizens' UAS for callbacks (answer, busy or silent by the number's last
    digit, see sipp/citizens.xml); stop it with ``stop_agents``."""
    scenario = render_scenario("citizens.xml", {"talk_ms": int(talk_s * 1000)}, work_dir)
    return await _start_uas(scenario, work_dir=work_dir, local_ip=local_ip, port=port)


async def start_survey_citizens(
    *, work_dir: Path, local_ip: str, port: int, digit: int, dtmf_after_s: float = 2.0
) -> asyncio.subprocess.Process:
    """Start the citizens' UAS for outbound surveys (answer, then press ``digit`` as RFC
    4733 events ``dtmf_after_s`` later, see sipp/citizens_survey.xml); stop it with
    ``stop_agents``."""
    if not 0 <= digit <= 9:
        raise SippError(f"DTMF digit {digit} is not 0-9")
    scenario = render_scenario(
        "citizens_survey.xml",
        {"dtmf_after_ms": int(dtmf_after_s * 1000), "digit": digit},
        work_dir,
    )
    return await _start_uas(scenario, work_dir=work_dir, local_ip=local_ip, port=port)


async def _start_uas(
    scenario: Path, *, work_dir: Path, local_ip: str, port: int
) -> asyncio.subprocess.Process:
    cmd = [
        sipp_binary(),
        "-sf",
        str(scenario),
        "-i",
        local_ip,
        "-p",
        str(port),
        "-nostdin",
        "-trace_screen",
        "-screen_file",
        str(work_dir / f"{scenario.stem}-screen.log"),
    ]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(0.3)
    if proc.returncode is not None:
        err = (await proc.stderr.read()).decode(errors="replace") if proc.stderr else ""
        raise SippError(f"{scenario.stem} UAS exited at start: {err.strip()[-300:]}")
    return proc


async def stop_agents(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _run(cmd: list[str], screen_file: Path, timeout_s: float) -> SippResult:
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise SippError(f"sipp ran past {timeout_s:.0f} s") from None
    except BaseException:  # cancelled (a test failing): leave no sipp behind
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    screen = await asyncio.to_thread(_read_screen, screen_file)
    if proc.returncode not in (0, 1) and not screen:
        raise SippError(
            f"sipp failed (exit {proc.returncode}): {err.decode(errors='replace')[-300:]}"
        )
    successful, failed, counts = _parse_screen(screen)
    return SippResult(proc.returncode or 0, successful, failed, counts, screen)


def _read_screen(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
