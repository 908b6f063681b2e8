"""Shared plotting helpers (matplotlib, Agg backend, atomic PNG writes)."""

from __future__ import annotations

import numpy as np

from .io import atomic_write


def new_figure(*args, **kwargs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save_figure(fig, path, dpi: int = 120) -> None:
    """Save ``fig`` as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=dpi, format="png"))
    plt.close(fig)


def plot_activation(cal, path) -> None:
    """Measured activation function with its logistic fit and the residuals."""
    fig, (ax, ax2) = new_figure(2, 1, figsize=(5, 4.5), sharex=True,
                                gridspec_kw={"height_ratios": [3, 1]})
    u = np.asarray(cal.e_leak_mV)
    uu = np.linspace(u[0], u[-1], 400)
    ax.plot(u, cal.p_on, "o", ms=3, label="simulation")
    ax.plot(uu, cal.p(uu), "-", label=f"logistic: u0={cal.u0_mV:.2f} mV, "
            f"alpha={cal.alpha_mV:.3f} mV")
    ax.set_ylabel("p(z=1)")
    ax.legend(frameon=False, fontsize=8)
    ax2.plot(u, np.asarray(cal.p_on) - cal.p(u), "o", ms=3)
    ax2.axhline(0, color="k", lw=0.5)
    ax2.set_xlabel("leak potential E_l (mV)")
    ax2.set_ylabel("residual")
    save_figure(fig, path)
