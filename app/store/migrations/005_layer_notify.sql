-- Every change to which versions are current is announced on the channel `ecoredline_layer`, so that
-- each worker may keep the current versions in memory (app/store/pgwatch.py) instead of asking on
-- every screening. A trigger, not the application, sends it: a publish from the CLI, another worker
-- or a hand-written UPDATE are announced alike. NOTIFY is delivered at commit, once per transaction.
CREATE FUNCTION ecoredline_layer_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ecoredline_layer', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER layer_changed
    AFTER INSERT OR UPDATE OF current_version, kind OR DELETE OR TRUNCATE ON layer
    FOR EACH STATEMENT EXECUTE FUNCTION ecoredline_layer_changed();
