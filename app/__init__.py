"""EcoRedline: 三线一单 (生态环境分区管控) screening service."""

__version__ = "0.1.0"
