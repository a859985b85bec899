-- bus: operators' commands for the leader, the cursor the leaders carried them out to, and the
-- answers. See coordination/postgres/bus.py.

-- fields: the command as formats/commands.py encodes a bus entry (every value text).
CREATE TABLE IF NOT EXISTS {schema}.commands (
  id bigserial PRIMARY KEY,
  issued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  fields jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_issued_at ON {schema}.commands (issued_at);

-- The last command id any leader carried out (or skipped as unreadable).
CREATE TABLE IF NOT EXISTS {schema}.bus_cursor (
  id smallint PRIMARY KEY CHECK (id = 1),
  last_id bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS {schema}.acks (
  command_id text PRIMARY KEY,
  answer text NOT NULL,
  expires_at timestamptz NOT NULL
);

-- submit: queue a command and notify the leader on <schema>_commands (delivered at commit; a
-- hint only: a lost one delays the command to the leader's next regular read). Returns its id.
CREATE OR REPLACE FUNCTION {schema}.submit(p_fields jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_id bigint;
BEGIN
  INSERT INTO {schema}.commands (fields) VALUES (p_fields) RETURNING id INTO v_id;
  PERFORM pg_notify({schema}.channel('commands'), v_id::text);
  RETURN v_id;
END;
$$;

-- ack: answer a command, move the cursor past it (never back), and clear commands older than
-- p_command_ttl_ms and answers nobody collected in time.
CREATE OR REPLACE FUNCTION {schema}.ack(
  p_command_id text, p_answer text, p_ack_ttl_ms bigint, p_cursor bigint, p_command_ttl_ms bigint
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
BEGIN
  IF p_command_id <> '' THEN
    INSERT INTO {schema}.acks AS a (command_id, answer, expires_at)
    VALUES (p_command_id, p_answer, v_now + p_ack_ttl_ms * interval '1 millisecond')
    ON CONFLICT (command_id) DO UPDATE SET answer = excluded.answer, expires_at = excluded.expires_at;
  END IF;
  INSERT INTO {schema}.bus_cursor AS c (id, last_id) VALUES (1, p_cursor)
  ON CONFLICT (id) DO UPDATE SET last_id = greatest(c.last_id, excluded.last_id);
  DELETE FROM {schema}.commands WHERE issued_at < v_now - p_command_ttl_ms * interval '1 millisecond';
  DELETE FROM {schema}.acks WHERE expires_at < v_now;
END;
$$;
