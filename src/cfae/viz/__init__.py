"""Figures and image grids (PNG)."""
