-- lease: the cluster leader lease, its fencing terms, and the checks that the data is the cluster's own.
-- The same rules as redis/lua/acquire.lua, renew.lua, release.lua, bury.lua and continuity.lua; each
-- function runs as one statement, so each call is atomic. Times are the database's clock_timestamp().
-- (No curly braces below but the schema's placeholder: the file is formatted by psycopg's sql.SQL.)

-- The lease: one row. Nobody holds it when expires_at <= clock_timestamp().
CREATE TABLE {schema}.lease (
  id smallint PRIMARY KEY CHECK (id = 1),
  term bigint NOT NULL,
  token text NOT NULL,        -- 'term:nonce:node', the secret every call compares
  node text NOT NULL,
  expires_at timestamptz NOT NULL
);
INSERT INTO {schema}.lease VALUES (1, 0, '', '', '-infinity');

-- Fencing tokens. A sequence never hands out a number twice, but a restored dump sets it back:
-- acquire then jumps above what the hosts remember and above the database's time in ms.
CREATE SEQUENCE {schema}.terms AS bigint;

-- The server identity the data was written under: a change means a restore into another
-- cluster or a failover to a promoted standby, which may lack the last claims.
CREATE TABLE {schema}.server (id smallint PRIMARY KEY CHECK (id = 1), identity text NOT NULL);

-- No fire scheduled at or before at_us (µs since the epoch) is claimed again: those made before a
-- loss of data cannot be proven unrun. margin_ms is the widest claim margin any node passed.
CREATE TABLE {schema}.floor (
  id smallint PRIMARY KEY CHECK (id = 1),
  at_us bigint NOT NULL,
  margin_ms bigint NOT NULL,
  reason text NOT NULL
);
INSERT INTO {schema}.floor VALUES (1, 0, 0, '');

-- Run-id prefixes of processes proven dead: their running markers stop counting for max_instances.
CREATE TABLE {schema}.dead (prefix text PRIMARY KEY, until timestamptz NOT NULL);


-- The database's time in ms since the epoch (the lease's replies carry it: hosts measure their clocks).
CREATE OR REPLACE FUNCTION {schema}.epoch_ms(at timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT floor(extract(epoch FROM at) * 1000)::bigint $$;

-- The LISTEN/NOTIFY channel of this schema for kind ('handover', 'commands'): '<schema>_<kind>',
-- the schema's part cut so that the name fits an identifier (63 bytes). notices.py names it alike.
CREATE OR REPLACE FUNCTION {schema}.channel(kind text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT left(btrim('{schema}', '"'), 62 - length(kind)) || '_' || kind $$;

-- This server's identity, 'system identifier:timeline:oid of the lease table'. The first two change
-- with a restore into another cluster, a point-in-time recovery or a failover to a promoted standby;
-- the oid with a restore from a dump (the tables are created anew). '?' stands for the first two
-- when this role may not read them (then only a restore from a dump can be noticed).
CREATE OR REPLACE FUNCTION {schema}.server_identity() RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  tables text := ':' || '{schema}.lease'::regclass::oid;
BEGIN
  IF NOT (has_function_privilege('pg_control_system()', 'execute')
          AND has_function_privilege('pg_current_wal_lsn()', 'execute')) THEN
    RETURN '?' || tables;
  END IF;
  -- The current WAL file's name starts with the timeline the server writes on (8 hex digits).
  RETURN (SELECT system_identifier::text FROM pg_control_system())
    || ':' || left(pg_walfile_name(pg_current_wal_lsn()), 8) || tables;
END $$;

-- check_continuity(now_ms, margin_ms, reason) -> the reason, '' when all is well, or '?' when the
-- server's identity cannot be read (then a failover cannot be noticed). As lua/continuity.lua: the
-- server row remembers the identity the data was written under; on a change, on a first start
-- (no row), or for a reason the caller passes (terms behind what the hosts saw), the floor moves
-- to now + the widest margin any node passed. The ledger's claim calls it too.
CREATE OR REPLACE FUNCTION {schema}.check_continuity(now_ms bigint, margin_ms bigint, reason text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  seen text := {schema}.server_identity();  -- (not 'found', which is plpgsql's FOUND)
  known text;
  kept {schema}.floor;
  margin bigint;
BEGIN
  SELECT identity INTO known FROM {schema}.server WHERE id = 1;
  IF reason = '' AND known IS NULL THEN
    reason := 'no lease history in PostgreSQL (a first start of this schema, or its data was lost)';
  ELSIF reason = '' AND split_part(known, ':', 3) <> split_part(seen, ':', 3) THEN
    reason := 'PostgreSQL''s tables of this schema were created anew (restored from a dump?)';
  ELSIF reason = '' AND known <> seen AND NOT (known LIKE '?%' OR seen LIKE '?%') THEN
    reason := 'PostgreSQL''s server changed (its system identifier or timeline: a restore into another '
      || 'cluster, a point-in-time recovery, or a failover to a standby)';
  END IF;
  IF known IS DISTINCT FROM seen THEN
    INSERT INTO {schema}.server VALUES (1, seen) ON CONFLICT (id) DO UPDATE SET identity = excluded.identity;
  END IF;
  SELECT * INTO kept FROM {schema}.floor WHERE id = 1 FOR UPDATE;
  IF NOT FOUND THEN  -- deleted by hand: as if it never moved
    INSERT INTO {schema}.floor VALUES (1, 0, 0, '') RETURNING * INTO kept;
  END IF;
  margin := greatest(check_continuity.margin_ms, kept.margin_ms);
  IF check_continuity.margin_ms > kept.margin_ms THEN
    UPDATE {schema}.floor SET margin_ms = check_continuity.margin_ms WHERE id = 1;
  END IF;
  IF reason <> '' AND (now_ms + margin) * 1000 > kept.at_us THEN
    UPDATE {schema}.floor SET at_us = (now_ms + margin) * 1000, reason = check_continuity.reason WHERE id = 1;
  END IF;
  IF reason = '' AND seen LIKE '?%' THEN
    RETURN '?';
  END IF;
  RETURN reason;
END $$;

-- acquire: take the lease if nobody holds it; else say who does and for how long.
-- nonce: a fresh random string for the token; node: the caller's node id; ttl_ms: the lease TTL;
-- lowest_term: one above the highest term any process of the caller's host has seen;
-- margin_ms: the floor's margin (2 x SCHEDULER_MAX_CLOCK_OFFSET).
-- Returns (true, term, token, ttl_ms, now_ms, discontinuity) when the caller leads now, else
-- (false, 0, holder's token, ms it still holds, now_ms, ''). A holder whose token is no lease token
-- (written by hand) is made to expire within the TTL.
CREATE OR REPLACE FUNCTION {schema}.acquire(
  nonce text, node text, ttl_ms int, lowest_term bigint, margin_ms bigint,
  OUT acquired boolean, OUT term bigint, OUT token text, OUT remaining_ms bigint, OUT now_ms bigint,
  OUT discontinuity text
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  now_ts timestamptz := clock_timestamp();
  ttl interval := ttl_ms * interval '1 millisecond';
  held {schema}.lease;
  lost text := '';
BEGIN
  now_ms := {schema}.epoch_ms(now_ts);
  discontinuity := '';
  SELECT * INTO held FROM {schema}.lease WHERE id = 1 FOR UPDATE;
  IF held.expires_at > now_ts THEN
    IF held.token !~ '^[0-9]+:[^:]+:.+$' AND held.expires_at > now_ts + ttl THEN
      UPDATE {schema}.lease SET expires_at = now_ts + ttl WHERE id = 1 RETURNING * INTO held;
    END IF;
    acquired := false;
    term := 0;
    token := held.token;
    remaining_ms := ceil(extract(epoch FROM held.expires_at - now_ts) * 1000)::bigint;
    RETURN;
  END IF;
  term := nextval('{schema}.terms');
  IF term < lowest_term THEN
    lost := 'PostgreSQL''s data is older than terms this host saw (restored from an older backup?)';
  END IF;
  discontinuity := {schema}.check_continuity(now_ms, margin_ms, lost);
  IF discontinuity NOT IN ('', '?') THEN
    -- Terms some node saw may be lost, and that node alone remembers them; the database's time in
    -- ms is above any term a sequence counted to (one per leadership, from an earlier time).
    term := greatest(term, lowest_term, now_ms);
    PERFORM setval('{schema}.terms', term);
  ELSIF term < lowest_term THEN
    term := lowest_term;
    PERFORM setval('{schema}.terms', term);
  END IF;
  acquired := true;
  token := term || ':' || nonce || ':' || node;
  remaining_ms := ttl_ms;
  UPDATE {schema}.lease
    SET term = acquire.term, token = acquire.token, node = acquire.node, expires_at = now_ts + ttl
    WHERE id = 1;
END $$;

-- renew: extend the lease while lease_token holds it (and has not run out). With margin_ms (a full
-- renewal) it also checks continuity. Returns (renewed, now_ms, discontinuity).
CREATE OR REPLACE FUNCTION {schema}.renew(
  lease_token text, ttl_ms int, margin_ms bigint DEFAULT NULL,
  OUT renewed boolean, OUT now_ms bigint, OUT discontinuity text
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  now_ts timestamptz := clock_timestamp();
BEGIN
  now_ms := {schema}.epoch_ms(now_ts);
  discontinuity := '';
  UPDATE {schema}.lease SET expires_at = now_ts + ttl_ms * interval '1 millisecond'
    WHERE id = 1 AND token = lease_token AND expires_at > now_ts;
  renewed := FOUND;
  IF renewed AND margin_ms IS NOT NULL THEN
    discontinuity := {schema}.check_continuity(now_ms, margin_ms, '');
  END IF;
END $$;

-- release: give the lease up if lease_token still holds it, and tell the standbys on the handover
-- channel (NOTIFY is delivered when the statement commits). Returns true if it did.
CREATE OR REPLACE FUNCTION {schema}.release(lease_token text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  UPDATE {schema}.lease SET expires_at = '-infinity'
    WHERE id = 1 AND token = lease_token AND expires_at > clock_timestamp();
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM pg_notify({schema}.channel('handover'), lease_token);
  RETURN true;
END $$;

-- bury: for a runner proven dead, release its lease as release does (lease_token '' if none) and
-- mark its run-id prefix dead for ttl_ms (as long as its running markers could live), so they stop
-- counting against max_instances. Returns true if it released the lease.
CREATE OR REPLACE FUNCTION {schema}.bury(lease_token text, run_prefix text, ttl_ms int) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  now_ts timestamptz := clock_timestamp();
BEGIN
  DELETE FROM {schema}.dead WHERE until < now_ts;
  INSERT INTO {schema}.dead AS d VALUES (run_prefix, now_ts + ttl_ms * interval '1 millisecond')
    ON CONFLICT (prefix) DO UPDATE SET until = greatest(d.until, excluded.until);
  RETURN lease_token <> '' AND {schema}.release(lease_token);
END $$;
