-- A screening record is kept as the JSON text the service answered with (`json`, not `jsonb`): jsonb
-- keeps numbers as decimals and prints every digit, so 1e16 came back as the integer 10000000000000000
-- and -0.0 as 0.0, and the record read back differed from the one answered and from the embedded
-- store's. Nothing queries inside a record. (Rows kept before this migration keep jsonb's spelling.)
ALTER TABLE screening ALTER COLUMN record TYPE json USING record::json;
