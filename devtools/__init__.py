"""Tools for developing Clarity Connect (local servers for tests, benchmarks, screenshots).

Not part of the product: ``pip install .`` does not install this package.
"""
