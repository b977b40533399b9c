"""Erlang C and Erlang A against published worked examples and independent implementations.

- Erlang C: Call Centre Helper, "Erlang C Formula – Made Simple With an Easy Worked
  Example" (callcentrehelper.com, article 121281): 100 calls per 30 minutes, 180 s
  handle time, target 80% within 20 s, shrinkage 30%: A = 10 Erlangs; with 11 agents
  P(wait) = 0.6821 and the service level 39%; 14 agents reach the target (88.8%),
  20 agents are scheduled with 30% shrinkage.
- Erlang C: Westbay Engineers' "The Erlang-C formula" walk-through: 360 calls per
  half hour, 4 minutes each, 55 agents, 15 s: A = 48, occupancy 0.873, P(wait) 0.2387,
  ASA 8.2 s, service level 84.6%.
- Erlang C: the README of the CRAN package ErlangC 0.1.0
  (https://stat.ethz.ch/CRAN/web/packages/ErlangC/readme/README.html, also
  https://rdocumentation.org/packages/ErlangC/versions/0.1.0), the same 100 calls per
  30 minutes, 180 s, 20 s, printed to R's 7 significant digits: 14 agents,
  wait_probability 0.1741319, service_level 0.88835, average_speed_of_answer
  "7.83593701177724s", immediate_answer_probability 0.8258681, occupancy 0.7142857; and
  the first row of its agent search, 11 agents, 0.6821182 and 0.3896138.
- Erlang C again: the PyPI package ``erlanglib`` (Decimal arithmetic from the textbook
  formula with factorials), over a grid of agents and loads.
- Erlang A: a brute-force Markov chain (the generator solved for its stationary law;
  each waiting caller's fate by the transient analysis of its place in the queue), the
  M/M/∞ identity at θ = μ, and Erlang C as the patience grows without bound.
"""

from __future__ import annotations

import decimal
import math

import pytest

from forecast.erlang import erlang_a_figures, erlang_b, erlang_c, erlang_c_figures

with decimal.localcontext():
    # erlanglib sets the thread's Decimal precision to 1000 at import: keep that local.
    import erlanglib


def test_callcentrehelper_worked_example() -> None:
    rate, handle, threshold = 100 / 1800, 180.0, 20.0
    eleven = erlang_c_figures(11, rate, handle, threshold)
    assert eleven.load == pytest.approx(10.0)
    assert round(eleven.p_wait, 4) == 0.6821
    assert round(eleven.service_level * 100) == 39
    fourteen = erlang_c_figures(14, rate, handle, threshold)
    assert round(fourteen.service_level * 100, 1) == 88.8
    assert erlang_c_figures(13, rate, handle, threshold).service_level < 0.80


def test_cran_erlangc_readme_example() -> None:
    rate, handle, threshold = 100 / 1800, 180.0, 20.0
    fourteen = erlang_c_figures(14, rate, handle, threshold)
    assert fourteen.p_wait == pytest.approx(0.1741319, abs=5e-8)
    assert fourteen.service_level == pytest.approx(0.88835, abs=5e-8)
    assert fourteen.asa_s == pytest.approx(7.83593701177724, abs=5e-15)
    assert 1 - fourteen.p_wait == pytest.approx(0.8258681, abs=5e-8)
    assert fourteen.occupancy == pytest.approx(0.7142857, abs=5e-8)
    eleven = erlang_c_figures(11, rate, handle, threshold)
    assert eleven.p_wait == pytest.approx(0.6821182, abs=5e-8)
    assert eleven.service_level == pytest.approx(0.3896138, abs=5e-8)


def test_westbay_worked_example() -> None:
    figures = erlang_c_figures(55, 360 / 1800, 240.0, 15.0)
    assert figures.load == pytest.approx(48.0)
    assert round(figures.occupancy, 3) == 0.873
    assert round(figures.p_wait, 4) == 0.2387
    assert round(figures.asa_s, 1) == 8.2
    assert round(figures.service_level * 100, 1) == 84.6


@pytest.mark.parametrize("servers", [1, 2, 5, 11, 30, 55, 120])
@pytest.mark.parametrize("occupancy", [0.3, 0.7, 0.9, 0.97])
def test_erlang_c_matches_erlanglib(servers: int, occupancy: float) -> None:
    load = servers * occupancy
    handle, threshold = 200.0, 15.0
    ours = erlang_c_figures(servers, load / handle, handle, threshold)
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        theirs_wait = erlanglib.erlang_c(servers, load)
        theirs_sl = erlanglib.service_level(servers, load, theirs_wait, threshold, handle)
        theirs_b = erlanglib.erlang_b(servers, load)
    assert ours.p_wait == pytest.approx(theirs_wait, rel=1e-9)
    assert ours.service_level == pytest.approx(theirs_sl, rel=1e-9)
    assert erlang_b(servers, load) == pytest.approx(float(theirs_b), rel=1e-9)


def test_erlang_c_overloaded_and_hundreds_of_agents() -> None:
    assert erlang_c(10, 10.0) == 1.0
    overloaded = erlang_c_figures(10, 1.0, 12.0, 15)
    assert overloaded.service_level == 0.0 and math.isinf(overloaded.asa_s)
    big = erlang_c_figures(400, 380 / 180, 180.0, 15)  # factorials of 400 never appear
    assert 0 < big.p_wait < 1 and 0 < big.service_level < 1


# --- Erlang A: a brute-force chain -------------------------------------------------


def _stationary(n: int, lam: float, mu: float, theta: float, states: int) -> list[float]:
    """Solve πQ = 0 for the truncated birth-death generator by elimination."""
    birth = [lam if k < states - 1 else 0.0 for k in range(states)]
    death = [min(k, n) * mu + max(k - n, 0) * theta for k in range(states)]
    # Rows of Qᵀ: (Qᵀπ)_k = b_{k-1}π_{k-1} - (b_k + d_k)π_k + d_{k+1}π_{k+1} = 0.
    # Replace the last equation by Σπ = 1 and solve the dense system (small sizes).
    size = states
    matrix = [[0.0] * (size + 1) for _ in range(size)]
    for k in range(size - 1):
        if k > 0:
            matrix[k][k - 1] = birth[k - 1]
        matrix[k][k] = -(birth[k] + death[k])
        matrix[k][k + 1] = death[k + 1]
    matrix[size - 1] = [1.0] * size + [1.0]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(matrix[r][col]))
        matrix[col], matrix[pivot] = matrix[pivot], matrix[col]
        head = matrix[col][col]
        for row in range(col + 1, size):
            factor = matrix[row][col] / head
            if factor:
                for c in range(col, size + 1):
                    matrix[row][c] -= factor * matrix[col][c]
    pi = [0.0] * size
    for row in range(size - 1, -1, -1):
        acc = matrix[row][size] - sum(matrix[row][c] * pi[c] for c in range(row + 1, size))
        pi[row] = acc / matrix[row][row]
    return pi


def _fate(n: int, mu: float, theta: float, ahead: int, t: float) -> tuple[float, float]:
    """(P(served within t), P(served at all)) of a caller with ``ahead`` callers before it,
    by uniformizing its place-in-queue chain (absorbing: served, abandoned)."""
    rate = n * mu + ahead * theta + theta
    # place i = callers ahead; i = -1 is served. Advance at nμ + iθ, abandon at θ.
    probs = [0.0] * (ahead + 1)
    probs[ahead] = 1.0
    served = 0.0
    within = 0.0
    poisson = math.exp(-rate * t)
    cumulative_poisson = poisson
    step = 0
    while True:
        # served after `step` jumps contributes if the Poisson count >= that jump.
        new = [0.0] * (ahead + 1)
        newly_served = 0.0
        for i, p in enumerate(probs):
            if p == 0.0:
                continue
            advance = (n * mu + i * theta) / rate
            stay = 1.0 - advance - theta / rate
            new[i] += p * stay
            if i == 0:
                newly_served += p * advance
            else:
                new[i - 1] += p * advance
        step += 1
        served += newly_served
        # P(N(t) >= step) = 1 - P(N(t) <= step - 1)
        within += newly_served * (1.0 - cumulative_poisson)
        poisson *= rate * t / step
        cumulative_poisson += poisson
        probs = new
        if sum(probs) < 1e-13:
            return within, served


@pytest.mark.parametrize(
    ("servers", "calls_per_hour", "handle", "patience", "threshold"),
    [
        (11, 200, 180.0, 180.0, 20.0),
        (8, 200, 180.0, 60.0, 15.0),  # overloaded: only abandonment keeps it stable
        (15, 300, 150.0, 400.0, 15.0),
        (3, 30, 240.0, 90.0, 30.0),
    ],
)
def test_erlang_a_matches_markov_chain(
    servers: int, calls_per_hour: int, handle: float, patience: float, threshold: float
) -> None:
    lam, mu, theta = calls_per_hour / 3600, 1 / handle, 1 / patience
    states = servers + 120
    pi = _stationary(servers, lam, mu, theta, states)
    p_wait = sum(pi[servers:])
    within = sum(pi[:servers])
    answered = sum(pi[:servers])
    for j in range(states - servers):
        w, s = _fate(servers, mu, theta, j, threshold)
        within += pi[servers + j] * w
        answered += pi[servers + j] * s
    figures = erlang_a_figures(servers, lam, handle, patience, threshold)
    assert figures.p_wait == pytest.approx(p_wait, abs=1e-9)
    assert figures.answer_rate == pytest.approx(answered, abs=1e-9)
    assert figures.service_level == pytest.approx(within, abs=1e-9)


def test_erlang_a_with_patience_equal_to_handle_time_is_mm_infinity() -> None:
    """With θ = μ the number in system is Poisson(A) whatever n (a textbook identity)."""
    n, load, handle = 12, 10.0, 180.0
    figures = erlang_a_figures(n, load / handle, handle, handle, 15.0)
    p_below = sum(math.exp(-load) * load**k / math.factorial(k) for k in range(n))
    assert figures.p_wait == pytest.approx(1 - p_below, rel=1e-12)
    # Everyone is "in service" at rate μ, so the carried load equals A·answer_rate.
    mean_queue = sum(
        (k - n) * math.exp(k * math.log(load) - load - math.lgamma(k + 1)) for k in range(n, 200)
    )
    assert figures.answer_rate == pytest.approx(1 - mean_queue / load, rel=1e-12)


def test_erlang_a_tends_to_erlang_c_without_abandonment() -> None:
    c = erlang_c_figures(14, 200 / 3600, 180.0, 20.0)
    a = erlang_a_figures(14, 200 / 3600, 180.0, 1e9, 20.0)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-6)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-6)
    assert a.asa_s == pytest.approx(c.asa_s, rel=1e-5)


def test_erlang_a_heavy_overload_and_large_centre_stay_finite() -> None:
    heavy = erlang_a_figures(10, 1.0, 100.0, 600.0, 15.0)  # 100 Erlangs on 10 agents
    assert 0 < heavy.answer_rate < 0.2 and 0 <= heavy.service_level < 0.2
    haikou = erlang_a_figures(340, 3.0, 110.0, 60.0, 15.0)
    assert 0.9 < haikou.service_level <= haikou.answer_rate < 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"servers": 0}, "servers"),
        ({"arrival_rate": -1.0}, "arrival_rate"),
        ({"patience_s": 0.0}, "patience_s"),
        ({"handle_s": float("nan")}, "handle_s"),
    ],
)
def test_erlang_a_refuses_bad_input(kwargs: dict[str, float], field: str) -> None:
    args: dict[str, float] = {
        "servers": 5,
        "arrival_rate": 0.01,
        "handle_s": 100.0,
        "patience_s": 60.0,
        "threshold_s": 15.0,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=field.split("_")[0]):
        erlang_a_figures(
            int(args["servers"]),
            args["arrival_rate"],
            args["handle_s"],
            args["patience_s"],
            args["threshold_s"],
        )
