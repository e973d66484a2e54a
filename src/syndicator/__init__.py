"""syndicator: RSS/Atom/JSON feeds and email digests for Vietnamese public-sector portals."""

__version__ = "0.1.0"
