"""Real-time arbitrary style transfer with AdaIN (Huang & Belongie, ICCV 2017)."""

__version__ = "0.1.0"
