"""Vector tiles: versioned tile URLs and TileJSON for every layer."""
