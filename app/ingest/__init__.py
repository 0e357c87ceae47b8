"""Readers for layer and boundary files: format, encoding and CRS detection, validation and repair."""
