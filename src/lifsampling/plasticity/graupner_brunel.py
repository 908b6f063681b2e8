"""Graupner & Brunel (2012, PNAS 109:3991) calcium-based rule, behind the BiCaLL interface.

One calcium variable per synapse, c = c_pre + c_post (the two contributions decay with the same
tau_Ca, so they are stored per neuron and summed per synapse)::

    dc/dt = -c / tau_Ca,   pre spike (after delay D): c += C_pre,   post spike: c += C_post
    tau drho/dt = -rho (1 - rho)(rho* - rho) + gamma_p (1 - rho) H(c - theta_p)
                  - gamma_d rho H(c - theta_d)
                  + sigma sqrt(tau) sqrt(H(c - theta_p) + H(c - theta_d)) xi

Integration between two events (elapsed time T, calcium c0 at its start): c(t) = c0 e^(-t/tau_Ca)
is above theta_p for T_p = tau_Ca ln(c0 / theta_p) and above theta_d for T_d = tau_Ca ln(c0 /
theta_d) (clipped to [0, T]). On [0, T_p] and [T_p, T_d] the threshold terms with their noise
form an Ornstein–Uhlenbeck process, integrated exactly; the cubic double-well drift is applied
over the whole interval afterwards (operator splitting, RK4 sub-steps of at most 0.02 tau). The
splitting error is of order T_d / tau ~ 1e-4 (T_d is tens of ms, tau 150 s). The readout is
GB's: a synapse is UP when rho > rho*, and the synaptic change of a population with a fraction
beta initially UP and UP/DOWN efficacy ratio b is

    [ (beta (1 - U) + (1 - beta) D) b + beta U + (1 - beta)(1 - D) ] / (beta b + 1 - beta)

with U = P(UP -> DOWN), D = P(DOWN -> UP).

Parameter sets: first author's code (mgraupe/CalciumBasedPlasticityModel, synapticChange.py),
research note §6 [V]; times converted from s to ms.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from .calcium import PlasticityState, _as_elapsed


@dataclass(frozen=True)
class GraupnerBrunelParams:
    """GB2012 parameters (times in ms). Default: the 'DP' set of their Fig. 2 (STDP curve)."""

    tau_ca_ms: float = 20.0
    c_pre: float = 1.0
    c_post: float = 2.0
    theta_d: float = 1.0
    theta_p: float = 1.3
    gamma_d: float = 200.0
    gamma_p: float = 321.808
    sigma: float = 2.8284
    tau_ms: float = 150_000.0
    rho_star: float = 0.5
    delay_ms: float = 13.7
    beta: float = 0.5
    b: float = 5.0
    noise: bool = True

    def validate(self) -> None:
        for name in ("tau_ca_ms", "tau_ms", "theta_d", "theta_p"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.delay_ms < 0:
            raise ValueError(f"delay_ms must be >= 0, got {self.delay_ms}")

    def to_dict(self) -> dict:
        return asdict(self)


GB_PRESETS: dict[str, GraupnerBrunelParams] = {
    # research note §6 (mgraupe/CalciumBasedPlasticityModel, choseParameterSet) [V]
    "DP": GraupnerBrunelParams(),
    "cortical": GraupnerBrunelParams(tau_ca_ms=22.6936, c_pre=0.5617539, c_post=1.23964,
                                     gamma_d=331.909, gamma_p=725.085, sigma=3.3501,
                                     tau_ms=346_361.5, delay_ms=4.6098, beta=0.5, b=5.40988),
    "hippocampal": GraupnerBrunelParams(tau_ca_ms=48.8373, c_pre=1.0, c_post=0.275865,
                                        gamma_d=313.0965, gamma_p=1645.59, sigma=9.1844,
                                        tau_ms=688_355.0, delay_ms=18.8008, beta=0.7, b=5.28145),
}


class GraupnerBrunel:
    """GB2012 with the same methods as :class:`~lifsampling.plasticity.calcium.BiCaLL`."""

    name = "graupner-brunel"

    def __init__(self, params: GraupnerBrunelParams | None = None) -> None:
        self.p = params or GraupnerBrunelParams()
        self.p.validate()

    @property
    def pre_delay_ms(self) -> float:
        """Presynaptic calcium arrives D ms after the pre spike (event drivers shift pre times)."""
        return self.p.delay_ms

    def init_state(self, batch: int, n_pre: int, n_post: int, w0: float | torch.Tensor = 0.0,
                   *, device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> PlasticityState:
        """Calcium at 0; efficacies ``w0`` (scalar or broadcastable to (B, N_pre, N_post))."""
        return PlasticityState.zeros(batch, n_pre, n_post, w0, device=device, dtype=dtype)

    def _ou(self, rho: torch.Tensor, t: torch.Tensor, k: float, m: float, s: float,
            gen: torch.Generator | None) -> torch.Tensor:
        """Exact OU step d rho = k (m - rho) dt + s dW over durations t (ms, >= 0)."""
        ekt = torch.exp(-k * t)
        out = m + (rho - m) * ekt
        if self.p.noise and s > 0:
            sd = s * torch.sqrt((1 - ekt * ekt) / (2 * k))
            out = out + sd * torch.randn(rho.shape, generator=gen, device=rho.device,
                                         dtype=rho.dtype)
        return out

    def advance(self, s: PlasticityState, elapsed_ms: float | torch.Tensor,
                generator: torch.Generator | None = None) -> PlasticityState:
        p = self.p
        e = _as_elapsed(elapsed_ms, s.pre).unsqueeze(-1)  # (B or 1, 1, 1)
        c0 = s.pre.unsqueeze(-1) + s.post.unsqueeze(-2)  # (B, N_pre, N_post)
        tiny = torch.finfo(c0.dtype).tiny
        log_c = torch.log(c0.clamp(min=tiny))
        t_p = torch.minimum((p.tau_ca_ms * (log_c - math.log(p.theta_p))).clamp(min=0), e)
        t_d = torch.minimum((p.tau_ca_ms * (log_c - math.log(p.theta_d))).clamp(min=0), e)
        rho = s.w
        if bool((t_d > 0).any()):
            # both thresholds: tau drho = (g_p - (g_p + g_d) rho) dt + sigma sqrt(2 tau) dW
            kp = (p.gamma_p + p.gamma_d) / p.tau_ms
            rho_a = self._ou(rho, t_p, kp, p.gamma_p / (p.gamma_p + p.gamma_d),
                             p.sigma * math.sqrt(2.0 / p.tau_ms), generator)
            rho = torch.where(t_p > 0, rho_a, rho)
            # depression only: tau drho = -gamma_d rho dt + sigma sqrt(tau) dW
            rho_b = self._ou(rho, t_d - t_p, p.gamma_d / p.tau_ms, 0.0,
                             p.sigma / math.sqrt(p.tau_ms), generator)
            rho = torch.where(t_d > t_p, rho_b, rho)
        # cubic double well over the whole interval (RK4)
        e_max = float(e.max())
        if e_max > 0:
            n_sub = max(1, math.ceil(e_max / (0.02 * p.tau_ms)))
            h = e / n_sub

            def f(r: torch.Tensor) -> torch.Tensor:
                return -r * (1 - r) * (p.rho_star - r) / p.tau_ms

            for _ in range(n_sub):
                k1 = f(rho)
                k2 = f(rho + 0.5 * h * k1)
                k3 = f(rho + 0.5 * h * k2)
                k4 = f(rho + h * k3)
                rho = rho + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if isinstance(elapsed_ms, float | int):
            dec = math.exp(-elapsed_ms / p.tau_ca_ms)
            return PlasticityState(s.pre * dec, s.post * dec, s.stop, rho)
        dec = torch.exp(-_as_elapsed(elapsed_ms, s.pre) / p.tau_ca_ms)
        return PlasticityState(s.pre * dec, s.post * dec, s.stop, rho)

    def on_spikes(self, s: PlasticityState, pre: torch.Tensor | None,
                  post: torch.Tensor | None) -> PlasticityState:
        """Calcium jumps (a pre spike here is the *arrival* of presynaptic calcium, i.e. D late)."""
        x_pre, x_post = s.pre, s.post
        if pre is not None:
            x_pre = x_pre + self.p.c_pre * pre.to(x_pre.dtype)
        if post is not None:
            x_post = x_post + self.p.c_post * post.to(x_post.dtype)
        return PlasticityState(x_pre, x_post, s.stop, s.w)

    def step(self, s: PlasticityState, pre: torch.Tensor | None, post: torch.Tensor | None,
             dt_ms: float, generator: torch.Generator | None = None) -> PlasticityState:
        return self.on_spikes(self.advance(s, dt_ms, generator), pre, post)

    def weight(self, s: PlasticityState) -> torch.Tensor:
        """Two-state efficacy: b if UP (rho > rho*), 1 if DOWN."""
        up = (s.w > self.p.rho_star).to(s.w.dtype)
        return 1.0 + (self.p.b - 1.0) * up

    def is_up(self, s: PlasticityState) -> torch.Tensor:
        return s.w > self.p.rho_star

    def change_ratio(self, p_up_to_down: torch.Tensor, p_down_to_up: torch.Tensor) -> torch.Tensor:
        """GB2012 synaptic change (ratio of mean efficacy after / before), see module docstring."""
        be, b = self.p.beta, self.p.b
        u, d = p_up_to_down, p_down_to_up
        return ((be * (1 - u) + (1 - be) * d) * b + be * u + (1 - be) * (1 - d)) / (be * b + 1 - be)

    def describe(self) -> dict:
        return {"rule": self.name, **self.p.to_dict()}
