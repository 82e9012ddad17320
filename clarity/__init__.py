"""Clarity Connect: the Django project and the sync core."""
