-- The attributes a tile carries when they differ from the feature's (long texts left out:
-- app/domain/tilebands.py tile_properties); NULL means the attributes themselves.
ALTER TABLE feature ADD COLUMN tile_props jsonb;
