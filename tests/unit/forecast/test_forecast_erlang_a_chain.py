"""Erlang A checked against a second implementation written from the Markov chain alone.

The production code (``forecast.erlang.erlang_a_figures``) sums Erlang B, a product of
birth-death ratios and a negative-binomial identity for the service level. The
reference here shares none of that:

1. **Stationary law.** The M/M/n+M chain counts callers in the system: births at λ,
   deaths at ``min(k, n)·μ + max(k - n, 0)·θ``. It is truncated at a state ``K`` and
   the generator's balance equations ``πQ = 0`` are solved by Gaussian elimination of
   the tridiagonal system from the last row up, in 50-digit ``Decimal`` (π spans
   hundreds of orders of magnitude for hundreds of agents; no logarithms, no
   factorials, no detailed-balance product). ``K`` doubles until the mass beyond it,
   bounded by ``π_K · r / (1 - r)`` with ``r = λ / death(K + 1)`` (the ratios only fall
   from there), is below 1e-15.
2. **Each caller's fate.** By PASTA an arrival sees π. Finding ``k < n`` it is answered
   at once. Finding ``j = k - n`` waiting, it sits at place ``j`` of a FCFS queue: it
   moves up at ``nμ + jθ`` (an agent frees or someone ahead hangs up), is answered from
   place 0 at ``nμ``, and hangs up at θ from any place. This absorbing chain, started
   from the arrival law over places, is solved two ways:

   - **by uniformization** for ``P(answered and wait ≤ t)``: with
     ``Λ = nμ + (J + 1)θ`` (the largest exit rate), ``P(t) = Σ_m Poisson(m; Λt)·s_m``
     where ``s_m`` is the answered mass after ``m`` steps of the jump chain
     ``I + Q/Λ``; all terms are non-negative, and the sum stops once the Poisson mass
     left is below 1e-16. The waiting time in place ``j`` is phase-type (exponential
     stages at ``nμ + iθ`` for ``i = j..0`` racing the caller's own patience), and this
     is its exact transient probability, not an approximation beyond float rounding;
   - **by the fundamental matrix** for the mean waits: ``m1 = α(-T)⁻¹`` (expected time
     at each place) and ``m2 = m1(-T)⁻¹``, each a bidiagonal back-substitution;
     ``E[W; answered] = m2_0·nμ`` and ``E[W; abandoned] = θ·Σ m2``.

The production figures are defined as: ``p_wait = P(W > 0)``; ``answer_rate =
P(answered)`` (= 1 - P(abandon)); ``service_level = P(answered and W ≤ t)`` (a caller
who hangs up within t does not count as served); ``asa_s = E[W | answered]``, callers
answered at once counting 0; ``occupancy = E[busy agents] / n``. The production code has
no mean wait of abandoning callers; the reference computes it (``E[W | abandoned]``)
and checks it through Little's law only.

Tolerances: probabilities within 1e-10 absolute, mean waits and occupancy within 1e-9
relative. Both truncations are below 1e-14; what remains is float rounding.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

import pytest

from forecast.erlang import erlang_a_figures, erlang_c_figures

TAIL = 1e-15
PROBABILITY_ABS = 1e-10
MEAN_REL = 1e-9


@dataclass(frozen=True, slots=True)
class ChainFigures:
    p_wait: float
    p_abandon: float
    answered: float
    answered_within: dict[float, float]
    mean_wait_answered_s: float
    mean_wait_abandoned_s: float
    mean_wait_all_s: float
    mean_queue: float
    """Time-average callers waiting (L_q), from the stationary law."""
    occupancy: float


def _death(k: int, n: int, mu: Decimal, theta: Decimal) -> Decimal:
    return min(k, n) * mu + max(k - n, 0) * theta


def _solve_balance(n: int, lam: Decimal, mu: Decimal, theta: Decimal, top: int) -> list[Decimal]:
    """π of the chain truncated at ``top`` (no births there), from πQ = 0 and Σπ = 1.

    Column k of πQ = 0 reads λπ_{k-1} - (λ + d_k)π_k + d_{k+1}π_{k+1} = 0 (λ absent at
    ``top``). Eliminating from the last column up leaves π_k = c_k·π_{k-1}."""
    ratio = [Decimal(0)] * (top + 1)
    ratio[top] = lam / _death(top, n, mu, theta)
    for k in range(top - 1, 0, -1):
        d_k, d_next = _death(k, n, mu, theta), _death(k + 1, n, mu, theta)
        ratio[k] = lam / (lam + d_k - d_next * ratio[k + 1])
    pi = [Decimal(1)]
    for k in range(1, top + 1):
        pi.append(pi[-1] * ratio[k])
    total = sum(pi, Decimal(0))
    return [p / total for p in pi]


def stationary(n: int, lam: float, mu: float, theta: float) -> list[float]:
    """The stationary law, truncated where the tail left out is below ``TAIL``."""
    with localcontext() as ctx:
        ctx.prec = 50
        d_lam, d_mu, d_theta = Decimal(lam), Decimal(mu), Decimal(theta)
        top = n + 64
        while True:
            pi = _solve_balance(n, d_lam, d_mu, d_theta, top)
            r = d_lam / _death(top + 1, n, d_mu, d_theta)
            if r < 1 and pi[top] * r / (1 - r) < Decimal(TAIL):
                residual = _balance_residual(pi, n, d_lam, d_mu, d_theta)
                assert residual < Decimal("1e-40"), residual
                return [float(p) for p in pi]
            top *= 2


def _balance_residual(
    pi: Sequence[Decimal], n: int, lam: Decimal, mu: Decimal, theta: Decimal
) -> Decimal:
    """max_k |(πQ)_k| of the truncated generator: the elimination really solved it."""
    top = len(pi) - 1
    worst = Decimal(0)
    for k in range(top + 1):
        inflow = (lam * pi[k - 1] if k > 0 else 0) + (
            _death(k + 1, n, mu, theta) * pi[k + 1] if k < top else 0
        )
        outflow = ((lam if k < top else 0) + _death(k, n, mu, theta)) * pi[k]
        worst = max(worst, abs(inflow - outflow))
    return worst


def _poisson_weights(rate_t: float, steps: int) -> list[float]:
    """Poisson(rate_t) probabilities of 0..steps-1 jumps: ratios outward from the mode,
    then normalized (exp(lgamma) alone is off by ~1e-13 at a few hundred jumps)."""
    if rate_t == 0:
        return [1.0] + [0.0] * (steps - 1)
    mode = min(int(rate_t), steps - 1)
    weights = [0.0] * steps
    weights[mode] = 1.0
    for m in range(mode + 1, steps):
        weights[m] = weights[m - 1] * rate_t / m
    for m in range(mode - 1, -1, -1):
        weights[m] = weights[m + 1] * (m + 1) / rate_t
    assert weights[-1] < 1e-18  # the jumps left out carry no weight
    total = math.fsum(weights)
    return [w / total for w in weights]


def answered_within(
    n: int, mu: float, theta: float, arrivals: Sequence[float], thresholds: Sequence[float]
) -> dict[float, float]:
    """P(a waiting arrival is answered within t), t in ``thresholds``, by uniformization.

    ``arrivals[j]`` is the probability that an arrival finds ``j`` callers waiting."""
    places = len(arrivals)
    advance = [n * mu + j * theta for j in range(places)]
    rate = advance[-1] + theta
    longest = max(thresholds) * rate
    steps = int(longest + 12 * math.sqrt(longest) + 40)
    weights = {t: _poisson_weights(t * rate, steps) for t in thresholds}
    probs = list(arrivals)
    served = 0.0
    served_after: list[float] = [0.0]
    for _ in range(steps - 1):
        moved = [p * a / rate for p, a in zip(probs, advance, strict=True)]
        served += moved[0]
        kept = [p - m - p * theta / rate for p, m in zip(probs, moved, strict=True)]
        probs = [k + (moved[j + 1] if j + 1 < places else 0.0) for j, k in enumerate(kept)]
        served_after.append(served)
    return {
        t: math.fsum(wm * sm for wm, sm in zip(w, served_after, strict=True))
        for t, w in weights.items()
    }


def _solve_left(
    diagonal: Sequence[float], below: Sequence[float], rhs: Sequence[float]
) -> list[float]:
    """x with x·M = rhs for M = -T: M_jj = diagonal[j], M_{j,j-1} = -below[j], else 0."""
    x = [0.0] * len(rhs)
    for j in range(len(rhs) - 1, -1, -1):
        carried = x[j + 1] * below[j + 1] if j + 1 < len(rhs) else 0.0
        x[j] = (rhs[j] + carried) / diagonal[j]
    return x


def chain_figures(
    n: int, lam: float, handle_s: float, patience_s: float, thresholds: Sequence[float]
) -> ChainFigures:
    """The reference's figures for ``n`` agents (rates per second)."""
    mu, theta = 1.0 / handle_s, 1.0 / patience_s
    pi = stationary(n, lam, mu, theta)
    free = math.fsum(pi[:n])
    arrivals = pi[n:]
    places = len(arrivals)
    advance = [n * mu + j * theta for j in range(places)]
    diagonal = [a + theta for a in advance]
    # Transient generator T: place j → j-1 at advance[j]; -T has advance[j] below the diagonal.
    m1 = _solve_left(diagonal, advance, arrivals)
    m2 = _solve_left(diagonal, advance, m1)
    answered_late = m1[0] * n * mu
    p_abandon = theta * math.fsum(m1)
    answered = free + answered_late
    within = answered_within(n, mu, theta, arrivals, thresholds) if places else {}
    mean_queue = math.fsum(j * p for j, p in enumerate(arrivals))
    busy = math.fsum(min(k, n) * p for k, p in enumerate(pi))
    return ChainFigures(
        p_wait=math.fsum(arrivals),
        p_abandon=p_abandon,
        answered=answered,
        answered_within={t: free + within.get(t, 0.0) for t in thresholds},
        mean_wait_answered_s=m2[0] * n * mu / answered,
        mean_wait_abandoned_s=theta * math.fsum(m2) / p_abandon if p_abandon > 0 else 0.0,
        mean_wait_all_s=math.fsum(m1),
        mean_queue=mean_queue,
        occupancy=busy / n,
    )


# Arrival rate (via the load per agent), handle time, agents, patience and threshold.
AGENTS = [1, 3, 10, 40]
LOAD_PER_AGENT = [0.5, 0.9, 1.0, 1.4]
HANDLE_PATIENCE = [(60.0, 20.0), (180.0, 180.0), (240.0, 90.0), (300.0, 900.0)]
THRESHOLDS = [0.0, 5.0, 20.0, 60.0]


@pytest.mark.parametrize("servers", AGENTS)
@pytest.mark.parametrize("load_per_agent", LOAD_PER_AGENT)
@pytest.mark.parametrize(("handle", "patience"), HANDLE_PATIENCE)
def test_erlang_a_matches_the_chain_over_a_grid(
    servers: int, load_per_agent: float, handle: float, patience: float
) -> None:
    lam = servers * load_per_agent / handle
    ref = chain_figures(servers, lam, handle, patience, THRESHOLDS)
    # The reference agrees with itself: the caller's view (PASTA) against the time
    # average (abandons = θ·L_q; mean wait of everyone = L_q / λ by Little's law).
    assert ref.p_abandon == pytest.approx(ref.mean_queue / patience / lam, rel=1e-11)
    assert ref.answered + ref.p_abandon == pytest.approx(1.0, abs=1e-13)
    assert ref.mean_wait_all_s == pytest.approx(ref.mean_queue / lam, rel=1e-11)
    split = ref.answered * ref.mean_wait_answered_s + ref.p_abandon * ref.mean_wait_abandoned_s
    assert split == pytest.approx(ref.mean_wait_all_s, rel=1e-11)
    for threshold in THRESHOLDS:
        ours = erlang_a_figures(servers, lam, handle, patience, threshold)
        assert ours.p_wait == pytest.approx(ref.p_wait, abs=PROBABILITY_ABS)
        assert ours.answer_rate == pytest.approx(ref.answered, abs=PROBABILITY_ABS)
        assert 1 - ours.answer_rate == pytest.approx(ref.p_abandon, abs=PROBABILITY_ABS)
        assert ours.service_level == pytest.approx(
            ref.answered_within[threshold], abs=PROBABILITY_ABS
        ), threshold
        assert ours.asa_s == pytest.approx(ref.mean_wait_answered_s, rel=MEAN_REL)
        assert ours.occupancy == pytest.approx(ref.occupancy, rel=MEAN_REL)


def test_service_level_grows_to_the_answer_rate() -> None:
    """Past a long threshold everyone answered counts: P(answered, W ≤ t) → P(answered)."""
    ref = chain_figures(5, 5 * 1.2 / 200, 200.0, 120.0, [3600.0])
    assert ref.answered_within[3600.0] == pytest.approx(ref.answered, abs=1e-12)
    ours = erlang_a_figures(5, 5 * 1.2 / 200, 200.0, 120.0, 3600.0)
    assert ours.service_level == pytest.approx(ours.answer_rate, abs=1e-12)


def test_the_reference_reproduces_erlang_c_without_abandonment() -> None:
    """θ = 0 turns the chain into M/M/n: the reference meets Erlang C's closed forms."""
    servers, handle = 14, 180.0
    lam = 100 / 1800
    mu = 1 / handle
    pi = stationary(servers, lam, mu, 0.0)
    arrivals = pi[servers:]
    within = answered_within(servers, mu, 0.0, arrivals, [20.0])[20.0] + math.fsum(pi[:servers])
    closed = erlang_c_figures(servers, lam, handle, 20.0)
    assert math.fsum(arrivals) == pytest.approx(closed.p_wait, abs=1e-12)
    assert within == pytest.approx(closed.service_level, abs=1e-12)


@pytest.mark.parametrize(
    ("servers", "calls_per_hour", "handle", "threshold"),
    [
        (14, 200, 180.0, 20.0),
        (55, 720, 240.0, 15.0),
        (3, 30, 240.0, 30.0),
        (120, 2300, 180.0, 15.0),
        (1, 10, 300.0, 60.0),
    ],
)
def test_erlang_a_converges_to_erlang_c_as_patience_grows(
    servers: int, calls_per_hour: int, handle: float, threshold: float
) -> None:
    """The gap to Erlang C (P(wait), service level, abandon share, relative ASA) is first
    order in θ = 1/patience: a hundred times the patience, a hundredth of the gap, down to
    1e-9 at a patience of 1e14 s. Before log e^{-θt} was taken as -θt, the service level
    stopped converging near 1e-8 and was 1e-5 off at 1e14 s."""
    lam = calls_per_hour / 3600
    c = erlang_c_figures(servers, lam, handle, threshold)
    gaps = []
    for patience in (1e6, 1e8, 1e10, 1e12, 1e14):
        a = erlang_a_figures(servers, lam, handle, patience, threshold)
        gap = max(
            abs(a.p_wait - c.p_wait),
            abs(a.service_level - c.service_level),
            abs(a.answer_rate - 1.0),
            abs(a.asa_s - c.asa_s) / c.asa_s,
        )
        gaps.append(gap)
    assert gaps[-1] < 1e-9
    for wider, narrower in itertools.pairwise(gaps):
        assert 50 < wider / narrower < 150
