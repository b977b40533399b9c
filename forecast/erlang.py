"""Erlang B, Erlang C (M/M/n) and Erlang A (M/M/n+M, Palm's model with abandonment).

Pure arithmetic on floats, in log space where the terms could overflow, so that
hundreds of agents and heavy overload are computed without factorials.

Erlang A: callers arrive at rate λ, an agent serves at rate μ (1 / mean handle
time) and a waiting caller hangs up after an exponential patience of rate θ.
The number of callers in the system is a birth-death chain; below ``n`` it is
proportional to the Erlang-loss distribution, and ``π(n+j) = π(n) Π λ/(nμ+iθ)``
above. A caller who finds ``j`` others waiting reaches an agent after
``V = Σ_{i=0..j} Exp(nμ + iθ)``, and ``e^{-θV}`` is Beta(x, j+1) with
``x = nμ/θ`` (the Mellin transforms agree), so

    P(answered within t | j waiting) = E[e^{-θV}; V ≤ t]
                                     = x/(x+j+1) · P(Beta(x+1, j+1) ≥ e^{-θt})
                                     = x/(x+j+1) · P(NB(x+1, e^{-θt}) > j)

with NB the negative binomial law of the number of failures before the
(x+1)-th success. The tests check these against a brute-force Markov chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_TAIL_EPS = 1e-14
"""Stop summing the queue's states once a term is this small against the sum."""
_MAX_QUEUE_STATES = 2_000_000


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_servers_load(servers: int, load: float) -> None:
    _require(isinstance(servers, int) and servers >= 1, f"servers must be >= 1, got {servers}")
    _require(math.isfinite(load) and load >= 0, f"load must be >= 0 Erlangs, got {load}")


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of ``servers`` lines offered ``load`` Erlangs (stable recursion)."""
    _check_servers_load(servers, load)
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = load * blocking / (k + load * blocking)
    return blocking


def erlang_c(servers: int, load: float) -> float:
    """Probability that a caller waits (M/M/n, infinite patience); 1 when ``load >= servers``."""
    _check_servers_load(servers, load)
    if load >= servers:
        return 1.0
    blocking = erlang_b(servers, load)
    return servers * blocking / (servers - load * (1 - blocking))


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """What a queue model predicts for one interval (fractions, seconds)."""

    servers: int
    load: float
    """Offered load in Erlangs (λ × mean handle time)."""
    p_wait: float
    """Share of callers who find every agent busy."""
    service_level: float
    """Share of callers answered within the threshold."""
    answer_rate: float
    """Share of callers answered at all (1 without abandonment)."""
    asa_s: float
    """Mean wait of answered callers, seconds (inf when the queue is unstable)."""
    occupancy: float
    """Share of the agents' time spent on calls."""


def erlang_c_figures(
    servers: int, arrival_rate: float, handle_s: float, threshold_s: float
) -> QueueFigures:
    """Erlang C: ``arrival_rate`` callers/s, mean handle ``handle_s``, service level at
    ``threshold_s``."""
    _check_rates(arrival_rate, handle_s, threshold_s)
    load = arrival_rate * handle_s
    p_wait = erlang_c(servers, load)
    if load >= servers:
        return QueueFigures(servers, load, 1.0, 0.0, 1.0, math.inf, 1.0)
    decay = math.exp(-(servers - load) * threshold_s / handle_s)
    return QueueFigures(
        servers=servers,
        load=load,
        p_wait=p_wait,
        service_level=1.0 - p_wait * decay,
        answer_rate=1.0,
        asa_s=p_wait * handle_s / (servers - load),
        occupancy=load / servers,
    )


def _check_rates(arrival_rate: float, handle_s: float, threshold_s: float) -> None:
    _require(
        math.isfinite(arrival_rate) and arrival_rate >= 0,
        f"arrival_rate must be >= 0 calls/s, got {arrival_rate}",
    )
    _require(math.isfinite(handle_s) and handle_s > 0, f"handle_s must be > 0, got {handle_s}")
    _require(
        math.isfinite(threshold_s) and threshold_s >= 0,
        f"threshold_s must be >= 0, got {threshold_s}",
    )


def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = (a, b) if a >= b else (b, a)
    return high + math.log1p(math.exp(low - high))


def erlang_a_figures(
    servers: int,
    arrival_rate: float,
    handle_s: float,
    patience_s: float,
    threshold_s: float,
) -> QueueFigures:
    """Erlang A: as ``erlang_c_figures`` with callers' mean patience ``patience_s``."""
    _check_rates(arrival_rate, handle_s, threshold_s)
    _check_servers_load(servers, arrival_rate * handle_s)
    _require(
        math.isfinite(patience_s) and patience_s > 0, f"patience_s must be > 0, got {patience_s}"
    )
    n = servers
    lam, mu, theta = arrival_rate, 1.0 / handle_s, 1.0 / patience_s
    load = lam * handle_s
    if lam == 0:
        return QueueFigures(n, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0)
    blocking = erlang_b(n, load)
    # log t_j, t_j = Π_{i=1..j} λ/(nμ+iθ), t_0 = 1: the queue's states relative to π(n).
    log_t: list[float] = [0.0]
    log_sum = 0.0  # log Σ_{j>=0} t_j
    j = 0
    while True:
        j += 1
        _require(j < _MAX_QUEUE_STATES, "Erlang A: queue too long to sum (overload too heavy)")
        step = math.log(lam) - math.log(n * mu + j * theta)
        log_next = log_t[-1] + step
        log_t.append(log_next)
        log_sum = _logsumexp(log_sum, log_next)
        if step < 0 and log_next - log_sum < math.log(_TAIL_EPS):
            break
    # π(n) = c·B, Σ_{k<n} π = c(1-B), c(1 - B + B Σ t_j) = 1, all in logs.
    log_b = math.log(blocking) if blocking > 0 else -math.inf
    log_busy = log_b + log_sum  # log of c⁻¹·P(all busy)
    log_norm = _logsumexp(math.log1p(-blocking) if blocking < 1 else -math.inf, log_busy)
    p_free = math.exp(math.log1p(-blocking) - log_norm) if blocking < 1 else 0.0
    log_pi_n = log_b - log_norm

    x = n * mu / theta
    theta_t = theta * threshold_s
    # Negative binomial NB(r = x+1, p = u0 = e^{-θt}) pmf in logs: w_k = C(r+k-1, k) p^r
    # (1-p)^k. log p and log(1-p) come from θt itself: e^{-θt} rounds to 1 when callers
    # are very patient, and 1 - p would lose its digits (the service level drifted 1e-5
    # from Erlang C at a patience of 1e14 s).
    log_one_minus_u0 = math.log(-math.expm1(-theta_t)) if theta_t > 0 else -math.inf
    log_w = -(x + 1) * theta_t
    nb_cdf = 0.0
    served_within = p_free
    mean_queue = 0.0
    served_wait_total = 0.0  # Σ π(n+j) x/(x+j+1) E[V | served], for ASA
    stages_mean = 0.0
    for k, lt in enumerate(log_t):
        pi_k = math.exp(log_pi_n + lt)
        nb_cdf = min(1.0, nb_cdf + math.exp(log_w))
        p_served = x / (x + k + 1)
        served_within += pi_k * p_served * (1.0 - nb_cdf)
        mean_queue += k * pi_k
        # E[V; served] with V the sum of Exp(nμ+iθ), served w.p. Π (nμ+iθ)/(nμ+(i+1)θ):
        # given service, the stages are Exp(nμ+(i+1)θ).
        stages_mean += 1.0 / (n * mu + (k + 1) * theta)
        served_wait_total += pi_k * p_served * stages_mean
        log_w += math.log(x + 1 + k) - math.log(k + 1) + log_one_minus_u0
    p_abandon = theta * mean_queue / lam
    answer_rate = 1.0 - p_abandon
    p_wait = 1.0 - p_free
    asa = served_wait_total / answer_rate if answer_rate > 0 else math.inf
    carried = load * answer_rate
    return QueueFigures(
        servers=n,
        load=load,
        p_wait=p_wait,
        service_level=min(1.0, served_within),
        answer_rate=answer_rate,
        asa_s=asa,
        occupancy=min(1.0, carried / n),
    )
