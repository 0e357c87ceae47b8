"""A helper process that cuts pieces for ``app.domain.geometry.subdivide``.

The clipping loop holds the GIL between GEOS calls, so a second core only helps from a second
process. This one is started with ``python -m`` (never by multiprocessing, which would re-import the
caller's ``__main__``) and speaks length-free pickles over its pipes: ``(max_vertices, [wkb])`` in,
``(owner, [wkb])`` out, until its stdin closes. Only the parent process talks to it.
"""

from __future__ import annotations

import pickle
import sys

import shapely


def main() -> None:
    from app.domain.geometry import subdivide_local

    src, dst = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            max_vertices, wkb = pickle.load(src)
        except EOFError:
            return
        owner, pieces = subdivide_local(shapely.from_wkb(wkb), max_vertices)
        pickle.dump((owner, list(shapely.to_wkb(pieces))), dst, protocol=pickle.HIGHEST_PROTOCOL)
        dst.flush()


if __name__ == "__main__":
    main()
