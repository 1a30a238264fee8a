"""udm: unsupervised distribution-matching translation."""
__version__ = "0.1.0"
