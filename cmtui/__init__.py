"""cmtui: train message classifiers from the terminal."""

__version__ = "0.1.0"
