"""Connectors: one module per external system behind one interface (see ``base``)."""
