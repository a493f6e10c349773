"""Data side of secondlook: the taxonomy contract, the manifest, safe image decoding,
the synthetic product-photo benchmark and importers for public datasets.

Imports neither torch nor the `training`/`serving` packages; both of those import it.
"""
