-- Screening records: immutable, with the input file they were made from.
CREATE TABLE screening (
    id            text PRIMARY KEY,
    created_at    timestamptz NOT NULL,
    verdict       text NOT NULL,
    input_sha256  text,
    record        jsonb NOT NULL,
    input         bytea
);
CREATE INDEX screening_created ON screening (created_at);

CREATE FUNCTION screening_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'screening records are immutable';
END $$;
CREATE TRIGGER screening_no_change BEFORE UPDATE OR DELETE ON screening
    FOR EACH ROW EXECUTE FUNCTION screening_immutable();

-- records are ~30–50 KB of JSON: lz4 TOAST saves ~1 ms per kept screening against pglz (measured)
DO $$
BEGIN
    ALTER TABLE screening ALTER COLUMN record SET COMPRESSION lz4;
    ALTER TABLE screening ALTER COLUMN input SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 compression not available: keeping pglz';
END $$;
