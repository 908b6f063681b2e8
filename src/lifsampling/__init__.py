"""lifsampling: sampling-based computation with spiking neural networks."""

__version__ = "0.1.0"
