"""Keeping the rendered feeds current: what changed, render it once, keep it, serve it, announce it."""
