"""Spacecast: spaceflight webcast, date, update and status alerts for Discord, from LL2."""

__version__ = "0.1.0"
