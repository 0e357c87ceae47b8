"""Write the illustrative demo layers (示意数据，非官方边界) as GeoJSON: ``python scripts/make_demo_data.py OUT_DIR``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.demo import write_demo_layers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the illustrative demo layers (示意数据) as GeoJSON.")
    parser.add_argument("out_dir", type=Path, help="directory to write the .geojson files into")
    args = parser.parse_args(argv)
    layers = write_demo_layers(args.out_dir)
    for layer in layers:
        count = len(json.loads(layer.path.read_text(encoding="utf-8"))["features"])
        print(f"{layer.layer_id:<22} {count:>3} features  {layer.path}  {layer.name_zh}")
    print(f"{len(layers)} demo layers written to {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
