-- Geometry generalised per zoom band (app/domain/tilebands.py), in Web Mercator, for low-zoom tiles.
-- Versions published before this migration have none (tile_bands = false) and are tiled from the
-- full-resolution features, as before.
CREATE TABLE feature_band (
    version_id  text NOT NULL REFERENCES layer_version (id),
    band        smallint NOT NULL,
    fid         integer NOT NULL,
    geom        geometry(Geometry, 3857) NOT NULL,
    props       jsonb NOT NULL,  -- the attributes tiles carry (long texts left out): no join at tile time
    PRIMARY KEY (version_id, band, fid)
);
CREATE INDEX feature_band_geom_gist ON feature_band USING gist (geom);
ALTER TABLE layer_version ADD COLUMN tile_bands boolean NOT NULL DEFAULT false;
