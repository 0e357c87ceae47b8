-- The attributes a tile carries when they differ from the feature's (long texts left out:
-- app/domain/tilebands.py tile_properties); NULL means the attributes themselves. Versions published
-- before this migration are filled here, so their tiles leave the long texts out too.
ALTER TABLE feature ADD COLUMN tile_props jsonb;
UPDATE feature f SET tile_props = (
    SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb) FROM jsonb_each(f.attributes) e
    WHERE NOT (jsonb_typeof(e.value) = 'string' AND length(e.value #>> '{}') > 120))
WHERE EXISTS (SELECT 1 FROM jsonb_each(f.attributes) e
              WHERE jsonb_typeof(e.value) = 'string' AND length(e.value #>> '{}') > 120);
