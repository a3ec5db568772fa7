"""How the polynomial tables in ``tvmini/topi/special_coefficients.py`` were made, so that
``tests/test_special.py`` can make them again and compare (needs mpmath).

Each table approximates a smooth function ``f`` on ``t`` in [-1, 1]: its Chebyshev
coefficients are computed at 40 significant digits by interpolation at ``N`` Chebyshev
nodes, truncated where they fall below 1e-18 of the largest, and turned into monomial
coefficients (exactly, through T_k's integer coefficients) for a Horner evaluation, whose
rounding error stays within a few ulps because the coefficients' magnitudes sum to about
the function's size on every table here.
"""
import mpmath as mp

from tvmini.topi.special import ERFINV_REGIONS

#: erfcx's variable: t = (x - K) / (x + K) maps x in [0, inf) onto [-1, 1)
ERFCX_K = 3.75


def _chebyshev(f, nodes):
    xs = [mp.cos(mp.pi * (j + mp.mpf(0.5)) / nodes) for j in range(nodes)]
    fx = [f(x) for x in xs]
    return [2 * mp.fsum(fx[j] * mp.cos(mp.pi * k * (j + mp.mpf(0.5)) / nodes) for j in range(nodes)) / nodes
            for k in range(nodes)]


def _monomial(cheb):
    """Σ c_k T_k(t) (the first halved) as monomial coefficients, lowest power first."""
    out = [mp.mpf(0)] * len(cheb)
    before, current = [1], [0, 1]                      # T_0, T_1 as integer coefficient lists
    for k, c in enumerate(cheb):
        poly = before if k == 0 else current
        weight = c / 2 if k == 0 else c
        for j, a in enumerate(poly):
            out[j] += weight * a
        if k >= 1:                                      # T_{k+1} = 2 t T_k - T_{k-1}
            following = [2 * a for a in [0] + current]
            for j, a in enumerate(before):
                following[j] -= a
            before, current = current, following
    return out


def fit(f, nodes=64, tolerance=mp.mpf("1e-18")):
    """Monomial coefficients (floats, lowest power first) of ``f`` on [-1, 1]."""
    with mp.workdps(40):
        cheb = _chebyshev(f, nodes)
        biggest = max(abs(c) for c in cheb)
        keep = max(k for k, c in enumerate(cheb) if abs(c) > tolerance * biggest) + 1
        return [float(a) for a in _monomial(cheb[:keep])]


def _erfcx(t):
    if t == 1:
        return 1 / mp.sqrt(mp.pi)
    x = ERFCX_K * (1 + t) / (1 - t)
    return (1 + x) * mp.erfc(x) * mp.exp(x * x)


def _bessel(order, scale):
    """``scale(x) · exp(-x) · I_order(x)`` as a function of x."""
    return lambda x: scale(x) * mp.exp(-x) * mp.besseli(order, x)


def _i1e_over_x(x):
    return mp.exp(-x) * mp.besseli(1, x) / x if x else mp.mpf(0.5)


def _erfinv_ratio(w):
    """erfinv(x) / x where w = -log(1 - x²): x = 1 - c with c (2 - c) = exp(-w), and
    erfinv(x) the root of log erfc(z) = log c (no 1 - tiny to lose)."""
    if w == 0:
        return mp.sqrt(mp.pi) / 2
    small = mp.exp(-w)
    c = small / (1 + mp.sqrt(1 - small))
    return mp.findroot(lambda z: mp.log(mp.erfc(z)) - mp.log(c), 0.9 * mp.sqrt(w)) / (1 - c)


def _erfinv_tables():
    """ERFINV_* (about 1e-18 of the largest coefficient kept) and ERFINV_*_32 (1e-11)."""
    out = {}
    for name, variable, low, high in ERFINV_REGIONS:
        def f(t, variable=variable, low=low, high=high):
            v = low + (high - low) * (1 + t) / 2
            return _erfinv_ratio(v if variable == "w" else v * v)
        out[name] = fit(f, nodes=48)
        out[name + "_32"] = fit(f, nodes=32, tolerance=mp.mpf("1e-11"))
    return out


def tables():
    """name -> coefficients, for every table of ``special_coefficients``."""
    def small(f):
        return lambda t: f(4 * (1 + t))                                  # x = 4 (1 + t) on [0, 8]
    def large(order):
        return lambda t: _bessel(order, mp.sqrt)(16 / (1 + t))           # x = 16 / (1 + t) on [8, inf)
    return {
        "ERFCX": fit(_erfcx),
        "ERFCX_32": fit(_erfcx, tolerance=mp.mpf("1e-11")),
        "I0E_SMALL": fit(small(_bessel(0, lambda x: 1))),
        "I1E_SMALL": fit(small(_i1e_over_x)),
        "I0E_LARGE": fit(large(0)),
        "I1E_LARGE": fit(large(1)),
        **_erfinv_tables(),
    }


if __name__ == "__main__":
    for name, coefficients in tables().items():
        print(f"{name} = (", ", ".join(repr(c) for c in coefficients), ")", len(coefficients))
