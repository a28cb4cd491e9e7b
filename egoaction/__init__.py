"""egoaction: video action recognition, egocentric video first."""

__version__ = "0.1.0"
