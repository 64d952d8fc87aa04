"""Leaderboards built only from Inspect logs: CSV, Markdown and a self-contained web page."""
