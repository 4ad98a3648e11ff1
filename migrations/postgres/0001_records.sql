-- Records of the PostgreSQL store: one row per batch or session, the same
-- documents as the embedded store, with optimistic versions.
CREATE TABLE livy_next_ids (
    kind text PRIMARY KEY,
    next_id bigint NOT NULL
);
INSERT INTO livy_next_ids (kind, next_id) VALUES ('batch', 0), ('session', 0);

CREATE TABLE livy_records (
    kind text NOT NULL,
    id bigint NOT NULL,
    version bigint NOT NULL,
    name text,
    meta jsonb NOT NULL,
    spec jsonb NOT NULL,
    status jsonb NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE UNIQUE INDEX livy_records_name ON livy_records (kind, name) WHERE name IS NOT NULL;

-- Driver secrets, apart from the records (whoever reads a record must not
-- learn them); they go with their session's row.
CREATE TABLE livy_session_secrets (
    id bigint PRIMARY KEY,
    secret text NOT NULL
);

-- Every change is announced on commit to every server that LISTENs, with
-- the writer's application_name so a server can skip its own writes.
CREATE FUNCTION livy_records_notify() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM livy_session_secrets WHERE OLD.kind = 'session' AND id = OLD.id;
        PERFORM pg_notify('livy_records', json_build_object(
            'kind', OLD.kind, 'id', OLD.id, 'deleted', true,
            'by', current_setting('application_name'))::text);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('livy_records', json_build_object(
        'kind', NEW.kind, 'id', NEW.id, 'deleted', false,
        'by', current_setting('application_name'))::text);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER livy_records_notify AFTER INSERT OR UPDATE OR DELETE ON livy_records
    FOR EACH ROW EXECUTE FUNCTION livy_records_notify();
