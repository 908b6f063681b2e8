r"""High-conductance-state (HCS) theory of the LIF sampler's activation function.

Petrovici et al., "Stochastic inference with spiking neurons in the high-conductance state"
(Phys. Rev. E 94, 042312, 2016; arXiv 1610.07161) and the CNS 2015 abstract of seed 003 explain
why a conductance-based LIF neuron under strong Poisson bombardment samples: its effective time
constant tau_eff = C_m / g_tot is short, so the membrane follows the *effective potential*

    u_eff(t) = (g_l E_l + g_exc(t) E_exc + g_inh(t) E_inh + I) / g_tot(t),

and spiking splits into **bursts** (the neuron fires again right at the end of each refractory
period while u_eff stays above threshold) and **quiescent phases** (u_eff has to come back up to
threshold). This module turns that picture into numbers. Units: mV, ms, µS, nF, Hz.

1. **Free membrane** (Campbell's theorem; research/lif_sampling.md §1.2 [V], sbs
   ``IF_cond_exp_distribution``). A Poisson train of rate nu (1/ms) and jump w (µS) into an
   exponential synapse (tau_x) has <g_x> = w nu tau_x, Var g_x = nu w^2 tau_x / 2 and
   autocovariance Var g_x exp(-|t|/tau_x). Linearising u_eff around the mean conductances,

       sigma_eff^2 = sum_x nu_x w_x^2 tau_x (E_x - mu)^2 / (2 g_tot^2),

   an Ornstein-Uhlenbeck (OU) process with mean mu
   (:func:`lifsampling.membrane.free_membrane_mean`) and correlation time tau_syn (the
   variance-weighted mean of tau_exc, tau_inh if they differ). The free membrane is u_eff
   low-passed with tau_eff: sigma_u^2 = sum_x (...) tau_x / (tau_x + tau_eff), which equals
   sbs's PSP-kernel formula.

2. **Burst mode** (seed 000). In standard units x = (u_eff - mu)/sigma_eff the OU transition
   over one refractory period Delta is x' | x ~ N(rho x, 1 - rho^2), rho = exp(-Delta/tau_syn).
   A burst starts when the membrane crosses threshold, x_0 = theta'; it continues while x at the
   end of each refractory period is above theta = (V_th - mu)/sigma_eff. Propagating the
   density of x across refractory periods gives seed 000's

       P_n = P(burst has n spikes),  T_n = E[quiescence | n]
           = E[ <T(theta', x_n)> | x_{n-1} >= theta, x_n < theta ],

   computed on a Gauss-Legendre grid; the sums over n use the resolvent (I - M)^-1 of the
   above-threshold transfer operator M, so no truncation in n is needed.

3. **Quiescent mode**: <T(theta', x)> is the mean first-passage time of the OU process from x up
   to theta' (Siegert's integral; e.g. Brunel & Sergi 1998 eq. for the white-noise limit)

       T = tau_syn sqrt(pi) int_{x/sqrt2}^{theta'/sqrt2} erfcx(-z) dz,
       erfcx(-z) = e^{z^2} (1 + erf z).

   **Synaptic-filtering correction.** The membrane is u_eff low-passed with tau_eff, so the
   membrane crosses threshold later than u_eff would. Writing u_eff as a diffusion with
   variance rate D = 2 sigma_eff^2 / tau_syn, the membrane's velocity (u_eff - u)/tau_eff is a
   fast OU process of correlation time tau_eff driven by the same noise — the structure of
   Brunel & Sergi (1998) and Fourcaud & Brunel (2002) with the roles of the two time constants
   exchanged (cf. Moreno-Bote & Parga 2004 for the other limit). Their boundary-layer result
   moves the absorbing threshold of the slow diffusion by |zeta(1/2)| sqrt(D tau_fast / 2):

       theta' = theta + |zeta(1/2)| sqrt(tau_eff / tau_syn),   |zeta(1/2)| = 1.4604.

   The same shift sets the effective potential at the first spike of a burst (x_0 = theta').

4. **Activation** (seed 000): p(z=1) = sum_n P_n n tau_ref / sum_n P_n (n tau_ref +
   sum_k tau_k^b + T_n). With a time step ``dt_ms`` (the engine's schedule: clamp for tau_ref
   after the spike step, so spikes in a burst are tau_ref + dt apart) the refractory transition
   uses Delta = tau_ref + dt, tau^b = dt, and a quiescent phase lasts T + 1.5 dt on average
   (one clamped step, one failed step, half a step of detection delay); ``dt_ms=0`` is the
   continuous-time theory. The strong-drive limit is then tau_ref/(tau_ref + dt).

Everything is vectorised over leak potentials (the bias); a 200-point curve takes ~0.1 s.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erfcx

from .calibration import Calibration, fit_logistic, logistic
from .membrane import free_membrane_mean, mean_conductances
from .params import NeuronParams, NoiseParams

ZETA_HALF_ABS = 1.4603545088095868
"""|zeta(1/2)|, Riemann zeta at 1/2 (Fourcaud & Brunel 2002, alpha = sqrt(2)|zeta(1/2)|)."""

_THETA_MIN, _THETA_MAX = -6.0, 24.0  # standard units; outside, p is at its limits to < 1e-9
_MIN_NODES, _MAX_NODES = 64, 256  # Gauss-Legendre nodes; p converged to < 1e-8 (tests)
_CHUNK = 128  # leak potentials per batch: bounds the (chunk, K, K) transfer matrices


# --- 1. free membrane -------------------------------------------------------------------------
@dataclass(frozen=True)
class FreeMembrane:
    """Free-membrane statistics for each leak potential (arrays of the shape of ``e_leak_mV``).

    ``mu_mV``: mean of u_eff and of u; ``sigma_eff_mV``: std of u_eff; ``sigma_u_mV``: std of the
    free membrane u (u_eff low-passed by tau_eff); ``tau_syn_ms``: correlation time of u_eff;
    ``g_tot_uS``, ``tau_eff_ms``: mean total conductance and C_m / g_tot.
    """

    e_leak_mV: np.ndarray
    mu_mV: np.ndarray
    sigma_eff_mV: np.ndarray
    sigma_u_mV: np.ndarray
    tau_syn_ms: np.ndarray
    g_tot_uS: float
    tau_eff_ms: float

    @property
    def threshold_shift_mV(self) -> np.ndarray:
        """Synaptic-filtering shift of the threshold for u_eff: |zeta(1/2)| sigma_eff
        sqrt(tau_eff / tau_syn) (mV)."""
        return ZETA_HALF_ABS * self.sigma_eff_mV * np.sqrt(self.tau_eff_ms / self.tau_syn_ms)

    @property
    def alpha_theo_mV(self) -> np.ndarray:
        """sbs's slope estimate sqrt(2 pi)/4 sigma_u, in membrane (mu) units (mV)."""
        return math.sqrt(2 * math.pi) / 4 * self.sigma_u_mV


def free_membrane(neuron: NeuronParams, noise: NoiseParams, e_leak_mV) -> FreeMembrane:
    """Mean, fluctuations and correlation time of the free membrane (Campbell's theorem)."""
    neuron.validate()
    noise.validate()
    if noise.time_varying:
        raise ValueError("the HCS theory needs constant background rates")
    m = mean_conductances(neuron, noise)
    e_l = np.asarray(e_leak_mV, dtype=float)
    mu = free_membrane_mean(neuron, noise, e_l)
    rate_e, rate_i = noise.rates_at(0.0)
    var_e = rate_e * 1e-3 * noise.w_exc_uS**2 * neuron.tau_syn_exc_ms / 2  # µS^2
    var_i = rate_i * 1e-3 * noise.w_inh_uS**2 * neuron.tau_syn_inh_ms / 2
    ve = var_e * (neuron.e_rev_exc_mV - mu) ** 2 / m.g_tot_uS**2  # mV^2
    vi = var_i * (neuron.e_rev_inh_mV - mu) ** 2 / m.g_tot_uS**2
    te, ti, t_eff = neuron.tau_syn_exc_ms, neuron.tau_syn_inh_ms, m.tau_eff_ms
    var_eff = ve + vi
    with np.errstate(invalid="ignore", divide="ignore"):
        tau_c = np.where(var_eff > 0, (ve * te + vi * ti) / np.where(var_eff > 0, var_eff, 1),
                         0.5 * (te + ti))
    var_u = ve * te / (te + t_eff) + vi * ti / (ti + t_eff)
    return FreeMembrane(e_l, mu, np.sqrt(var_eff), np.sqrt(var_u), tau_c, m.g_tot_uS, t_eff)


def autocorrelation(lag_ms, fm: FreeMembrane, which: str = "effective") -> np.ndarray:
    """Normalised autocorrelation of u_eff (``"effective"``: OU, exp(-|t|/tau_syn)) or of the free
    membrane (``"membrane"``: OU through a tau_eff low-pass,
    (tau_s e^{-|t|/tau_s} - tau_eff e^{-|t|/tau_eff}) / (tau_s - tau_eff))."""
    t = np.abs(np.asarray(lag_ms, dtype=float))
    ts = np.asarray(fm.tau_syn_ms, dtype=float)
    if which == "effective":
        return np.exp(-t / ts)
    if which != "membrane":
        raise ValueError(f"which must be 'effective' or 'membrane', got {which!r}")
    te = fm.tau_eff_ms
    if np.any(np.isclose(ts, te)):
        return (1 + t / te) * np.exp(-t / te)
    return (ts * np.exp(-t / ts) - te * np.exp(-t / te)) / (ts - te)


# --- 3. first passage -------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _siegert_table() -> tuple[np.ndarray, np.ndarray]:
    """F(z) = int_0^z erfcx(-s) ds on a fine grid: cumulative trapezoid (step h = 1e-3) with the
    Euler-Maclaurin end correction -h^2/12 (f'(z) - f'(z_0)), f'(z) = 2 z f(z) + 2/sqrt(pi)."""
    z = np.linspace(-18.0, 17.0, 35_001)
    h = z[1] - z[0]
    f = erfcx(-z)
    df = 2 * z * f + 2 / math.sqrt(math.pi)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * h)]) - h**2 / 12 * (df - df[0])
    return z, cum - cum[18_000]


def _siegert_f(z: np.ndarray) -> np.ndarray:
    zt, ft = _siegert_table()
    out = np.interp(z, zt, ft)
    low = z < zt[0]  # erfcx(|s|) ~ 1/(|s| sqrt(pi)): logarithmic tail
    if np.any(low):
        out = np.where(low, ft[0] - np.log(np.maximum(-z, 1e-300) / -zt[0]) / math.sqrt(math.pi),
                       out)
    return out


def mean_first_passage_ms(x0, theta, tau_ms) -> np.ndarray:
    """Mean first-passage time (ms) of a stationary-unit-variance OU process with time constant
    ``tau_ms`` from ``x0`` up to ``theta`` (both in standard units): tau sqrt(pi)
    int_{x0/sqrt2}^{theta/sqrt2} e^{z^2} (1 + erf z) dz; 0 where x0 >= theta."""
    x0, theta = np.broadcast_arrays(np.asarray(x0, float), np.asarray(theta, float))
    s2 = math.sqrt(2.0)
    t = np.asarray(tau_ms, float) * math.sqrt(math.pi) * (_siegert_f(theta / s2)
                                                          - _siegert_f(x0 / s2))
    return np.where(x0 >= theta, 0.0, t)


# --- 2./4. bursts, quiescence, activation -----------------------------------------------------
@dataclass(frozen=True)
class BurstTheory:
    """Burst/quiescence statistics per leak potential (arrays over ``e_leak_mV``).

    ``p_on``: p(z=1); ``mean_burst_spikes``: sum_n n P_n; ``mean_quiescence_ms``: sum_n P_n T_n
    (+ the time-step overheads); ``theta``/``theta_eff``: threshold in standard units without /
    with the filtering shift; ``P_n``, ``T_n_ms`` (B, n_max): seed 000's burst-length
    probabilities and conditional quiescence times (only when ``n_max`` > 0 was asked).
    """

    e_leak_mV: np.ndarray
    p_on: np.ndarray
    mean_burst_spikes: np.ndarray
    mean_quiescence_ms: np.ndarray
    theta: np.ndarray
    theta_eff: np.ndarray
    membrane: FreeMembrane
    P_n: np.ndarray | None = None
    T_n_ms: np.ndarray | None = None


def _gauss(y, c, s):
    z = (y - c) / s
    z *= z
    z *= -0.5
    np.exp(z, out=z)
    return z / (s * math.sqrt(2 * math.pi))


@functools.lru_cache(maxsize=8)
def _legendre01(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]."""
    t, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (t + 1), 0.5 * w


def _nodes(span: float, width: float) -> int:
    """Enough nodes that the spacing stays below a third of the kernel width."""
    return int(np.clip(math.ceil(3.0 * span / width), _MIN_NODES, _MAX_NODES))


def _burst_core(theta, theta_eff, rho, s, tau_c, tau_ref: float, dt_ms: float, n_max: int):
    """p, E[n], E[quiescence], P_n, T_n for 1-d arrays of standardised thresholds (one chunk)."""
    x0 = theta_eff
    # above-threshold grid x = theta + L t, Gauss-Legendre on [0, 1]
    span = np.maximum(0.0, -theta) + 8.0
    n_above = _nodes(float(span.max()), float(s.min()))
    tk, wk = _legendre01(n_above)
    x = theta[:, None] + span[:, None] * tk  # (B, K)
    wx = span[:, None] * wk
    r, sc = rho[:, None, None], s[:, None, None]
    v = _gauss(x, rho[:, None] * x0[:, None], s[:, None]) * wx  # mass after the first spike
    M = _gauss(x[:, None, :], r * x[:, :, None], sc) * wx[:, None, :]  # (B, K, K) k -> j
    eye = np.eye(n_above)
    # H = v (I - M)^-1: total mass at each node summed over all later spikes of the burst
    H = np.linalg.solve(np.swapaxes(eye - M, 1, 2), v[:, :, None])[:, :, 0]
    mean_n = 1.0 + H.sum(1)

    # below-threshold end points y = theta - Ly t
    ly = np.maximum(0.0, theta * (1 - rho)) + 8.0 * s
    ty, wy = _legendre01(_nodes(float((ly / s).max()), 1.0))
    y = theta[:, None] - ly[:, None] * ty  # (B, Ky)
    w_y = ly[:, None] * wy
    T_y = mean_first_passage_ms(y, theta_eff[:, None], tau_c[:, None])  # (B, Ky)
    src = np.concatenate([x0[:, None], x], 1)  # (B, 1 + K) sources: start point and nodes
    src_mass = np.concatenate([np.ones_like(x0)[:, None], H], 1)
    kern = _gauss(y[:, None, :], r * src[:, :, None], sc) * w_y[:, None, :]  # (B, 1+K, Ky)
    G = np.einsum("bk,bky->by", src_mass, kern)
    mean_T = np.einsum("by,by->b", G, T_y)
    quiet = mean_T + 1.5 * dt_ms
    p = mean_n * tau_ref / (mean_n * tau_ref + (mean_n - 1) * dt_ms + quiet)

    P_n = T_n = None
    if n_max > 0:
        P_n = np.zeros((theta.size, n_max))
        PT = np.zeros_like(P_n)
        mass = np.concatenate([np.ones_like(x0)[:, None], np.zeros_like(x)], 1)
        for n in range(n_max):
            g = np.einsum("bk,bky->by", mass, kern)
            P_n[:, n] = g.sum(1)
            PT[:, n] = (g * T_y).sum(1)
            nxt = v if n == 0 else np.einsum("bk,bkj->bj", mass[:, 1:], M)
            mass = np.concatenate([np.zeros_like(x0)[:, None], nxt], 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            T_n = np.where(P_n > 0, PT / np.where(P_n > 0, P_n, 1), np.nan)
    return p, mean_n, quiet, P_n, T_n


def burst_theory(neuron: NeuronParams, noise: NoiseParams, e_leak_mV, *, dt_ms: float = 0.1,
                 synaptic_filtering: bool = True, n_max: int = 0) -> BurstTheory:
    """p(z=1) and the burst statistics of seed 000 for each leak potential in ``e_leak_mV``.

    ``dt_ms``: the simulator's time step (0: continuous time). ``synaptic_filtering=False`` drops
    the tau_eff correction (the pure tau_eff -> 0 limit). ``n_max`` > 0 also returns P_n, T_n
    for n = 1..n_max.
    """
    if dt_ms < 0:
        raise ValueError(f"dt_ms must be >= 0, got {dt_ms}")
    fm = free_membrane(neuron, noise, e_leak_mV)
    shape = np.shape(fm.mu_mV)
    mu, sig = np.ravel(fm.mu_mV), np.ravel(fm.sigma_eff_mV)
    tau_c = np.ravel(np.broadcast_to(fm.tau_syn_ms, shape)).astype(float)
    if not np.all(sig > 0):
        raise ValueError("the background gives no membrane fluctuations (zero rates or weights); "
                         "the HCS theory needs a noisy effective potential")
    tau_ref = neuron.tau_ref_ms
    if not tau_ref > 0:
        raise ValueError("the burst theory needs tau_ref_ms > 0")
    theta = np.clip((neuron.v_thresh_mV - mu) / sig, _THETA_MIN, _THETA_MAX)
    shift = ZETA_HALF_ABS * np.sqrt(fm.tau_eff_ms / tau_c) if synaptic_filtering else 0.0
    theta_eff = theta + shift
    rho = np.exp(-(tau_ref + dt_ms) / tau_c)  # (B,)
    s = np.sqrt(1.0 - rho**2)
    out = [_burst_core(theta[i:i + _CHUNK], theta_eff[i:i + _CHUNK], rho[i:i + _CHUNK],
                       s[i:i + _CHUNK], tau_c[i:i + _CHUNK], tau_ref, dt_ms, n_max)
           for i in range(0, theta.size, _CHUNK)]
    p, mean_n, quiet = (np.concatenate([o[k] for o in out]) for k in range(3))
    P_n = T_n = None
    if n_max > 0:
        P_n = np.concatenate([o[3] for o in out]).reshape(*shape, n_max)
        T_n = np.concatenate([o[4] for o in out]).reshape(*shape, n_max)
    return BurstTheory(np.asarray(fm.e_leak_mV), p.reshape(shape), mean_n.reshape(shape),
                       quiet.reshape(shape), theta.reshape(shape), theta_eff.reshape(shape), fm,
                       P_n, T_n)


def activation(neuron: NeuronParams, noise: NoiseParams, e_leak_mV, *, dt_ms: float = 0.1,
               synaptic_filtering: bool = True) -> np.ndarray:
    """Predicted p(z=1) for each leak potential in ``e_leak_mV`` (mV); see :func:`burst_theory`."""
    return burst_theory(neuron, noise, e_leak_mV, dt_ms=dt_ms,
                        synaptic_filtering=synaptic_filtering).p_on


def leak_for_mu(neuron: NeuronParams, noise: NoiseParams, mu_mV) -> np.ndarray:
    """Leak potential E_l (mV) that puts the mean free membrane at ``mu_mV`` (inverse of
    :func:`lifsampling.membrane.free_membrane_mean`)."""
    m = mean_conductances(neuron, noise)
    mu = np.asarray(mu_mV, dtype=float)
    return (mu * m.g_tot_uS - m.g_exc_uS * neuron.e_rev_exc_mV - m.g_inh_uS * neuron.e_rev_inh_mV
            - neuron.i_offset_nA) / neuron.g_leak_uS


def default_leak_range(neuron: NeuronParams, noise: NoiseParams,
                       n_sigma: tuple[float, float] = (-4.0, 3.0)) -> tuple[float, float]:
    """E_l range (mV) that puts mu from V_th + n_sigma[0] sigma_eff to V_th + n_sigma[1] sigma_eff
    (sigma_eff at mu = V_th): it spans the activation function from p ~ 0 to p ~ 1."""
    e0 = leak_for_mu(neuron, noise, neuron.v_thresh_mV)
    sig = float(free_membrane(neuron, noise, e0).sigma_eff_mV)
    if not sig > 0:
        raise ValueError("the background gives no membrane fluctuations (zero rates or weights)")
    lo, hi = leak_for_mu(neuron, noise, neuron.v_thresh_mV + np.array(n_sigma) * sig)
    return float(lo), float(hi)


def theory_calibration(neuron: NeuronParams, noise: NoiseParams, *,
                       e_leak_range_mV: tuple[float, float] | None = None, points: int = 101,
                       dt_ms: float = 0.1, synaptic_filtering: bool = True) -> Calibration:
    """A :class:`~lifsampling.calibration.Calibration` from the theory alone: p(z=1) on
    ``points`` leak potentials and its logistic fit (u0, alpha in E_l space, mV).

    ``duration_ms`` is 0 and ``seed`` -1 (nothing was simulated).
    """
    if points < 5:
        raise ValueError(f"points must be >= 5, got {points}")
    if e_leak_range_mV is None:
        e_leak_range_mV = default_leak_range(neuron, noise)
    lo, hi = map(float, e_leak_range_mV)
    if not lo < hi:
        raise ValueError(f"empty leak-potential range [{lo}, {hi}] mV")
    grid = np.linspace(lo, hi, points)
    p = activation(neuron, noise, grid, dt_ms=dt_ms, synaptic_filtering=synaptic_filtering)
    u0, alpha = fit_logistic(grid, p)
    resid = p - logistic(grid, u0, alpha)
    return Calibration(u0_mV=u0, alpha_mV=alpha, e_leak_mV=tuple(grid.tolist()),
                       p_on=tuple(p.tolist()), max_residual=float(np.abs(resid).max()),
                       rms_residual=float(np.sqrt(np.mean(resid**2))), neuron=neuron,
                       noise=noise, dt_ms=dt_ms if dt_ms > 0 else 0.1, duration_ms=0.0, seed=-1)
