"""The vocabulary of 三线一单 screening: layer kinds, layer versions, features, errors."""
