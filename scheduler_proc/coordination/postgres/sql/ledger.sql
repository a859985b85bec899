-- ledger: the fire ledger (claims, running markers, where catch-up resumes, history, pauses, the
-- leader record) and the functions that keep its guarantees, each one statement for the caller.
-- The same rules as the Redis scripts claim.lua, finish.lua, keep_running.lua and settle.lua.
-- Reads the lease, floor and dead tables of lease.sql. Times: the database's clock.

-- A claim is a row; the primary key is the one claim per (job, scheduled time). Kept until
-- expires_at (the claim retention), so a fire never runs twice.
CREATE TABLE IF NOT EXISTS {schema}.fires (
  job_id text NOT NULL,
  scheduled_us bigint NOT NULL,
  run_id text NOT NULL,
  node text,
  term bigint,
  manual boolean,
  claimed_at double precision,
  outcome text NOT NULL DEFAULT 'running',
  finished_at double precision,
  error text,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (job_id, scheduled_us)
);
CREATE INDEX IF NOT EXISTS fires_expires_at ON {schema}.fires (expires_at);

-- The running markers: runs going on anywhere in the cluster, for max_instances. A node that
-- dies stops renewing its markers, and they stop counting at alive_until.
CREATE TABLE IF NOT EXISTS {schema}.running (
  run_id text PRIMARY KEY,
  job_id text NOT NULL,
  alive_until timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS running_job_id ON {schema}.running (job_id);

-- Each job's latest scheduled claim (µs): where catch-up resumes. Only ever moves forward.
CREATE TABLE IF NOT EXISTS {schema}.last_claims (
  job_id text PRIMARY KEY,
  scheduled_us bigint NOT NULL
);

-- Run history, successes and the others apart (each trimmed to its own limit); entry is the
-- run as formats/history.py encodes it.
CREATE TABLE IF NOT EXISTS {schema}.runs (
  id bigserial PRIMARY KEY,
  job_id text NOT NULL,
  succeeded boolean NOT NULL,
  entry text NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_job_kind ON {schema}.runs (job_id, succeeded, id DESC);

CREATE TABLE IF NOT EXISTS {schema}.paused (
  job_id text PRIMARY KEY,
  paused_at double precision
);

-- What the last leader said of itself (app, node, tzdata), for standbys to compare.
CREATE TABLE IF NOT EXISTS {schema}.leader_record (
  name text PRIMARY KEY,
  value text NOT NULL
);

-- The running markers of these runs and their outcomes are decided one at a time: finish and
-- keep_running take these locks first (sorted: no deadlock between two calls), so a renewal
-- that read its list of runs just before a run ended never writes the ended run's marker again.
CREATE OR REPLACE FUNCTION {schema}.lock_runs(p_run_ids text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_key integer;
BEGIN
  FOR v_key IN SELECT DISTINCT hashtext(r) FROM unnest(p_run_ids) AS r ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(hashtext('scheduler-proc:run'), v_key);
  END LOOP;
END;
$$;

-- claim: claim a chunk of fires, each at most once (claim.lua).
-- p_token, p_term: the caller's lease token (it must hold the lease row: fencing) and term
-- p_node: the caller's node id; p_manual: operators' runs (they do not move last_claims)
-- p_retention_ms: how long a claim is kept; p_marker_ttl_ms: how long a running marker lives
-- p_run_prefix: the caller process's run-id prefix (it counts its own runs itself)
-- p_margin_ms: the floor's margin; p_claimed_at: the caller's wall time, epoch seconds
-- per fire (arrays of one length): job id, scheduled µs, run id, max_instances (0: no
--   check), instances of the job the caller's process runs now
-- Returns 'fenced' when the caller's lease is not the current one, else one letter per fire:
-- 'c' claimed by this run (now, or already: a retry whose first reply was lost), 'd' claimed by
-- another run, 'f' at or before the floor, 'e' further in the database's future than the margin
-- (the caller's clock runs ahead; left unclaimed), 'b' max_instances runs of the job going on.
CREATE OR REPLACE FUNCTION {schema}.claim(
  p_token text, p_term bigint, p_node text, p_manual boolean, p_retention_ms bigint, p_marker_ttl_ms bigint,
  p_run_prefix text, p_margin_ms bigint, p_claimed_at double precision,
  p_job_ids text[], p_scheduled_us bigint[], p_run_ids text[], p_most int[], p_here int[]
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_holder text;
  v_expires timestamptz;
  v_now timestamptz;
  v_floor_us bigint;
  v_latest_us bigint;
  v_owner text;
  v_others bigint;
  v_answers text := '';
BEGIN
  -- Held until commit: an acquire (which also locks the row) waits for this claim to end. The lock
  -- is written, so even a call that claims nothing new (a retry that finds its claim) commits with
  -- a transaction id, and its commit waits for synchronous standbys: a claim runs only once they
  -- have it (and the claim before it).
  SELECT token, expires_at INTO v_holder, v_expires FROM {schema}.lease WHERE id = 1 FOR UPDATE;
  v_now := clock_timestamp();
  IF v_holder IS DISTINCT FROM p_token OR v_expires <= v_now THEN
    RETURN 'fenced';
  END IF;
  PERFORM {schema}.check_continuity(floor(extract(epoch FROM v_now) * 1000)::bigint, p_margin_ms, '');
  SELECT coalesce(max(at_us), 0) INTO v_floor_us FROM {schema}.floor WHERE id = 1;
  v_latest_us := floor(extract(epoch FROM v_now) * 1000)::bigint * 1000 + p_margin_ms * 1000;
  -- Housekeeping, bounded: expired claims go (an expired one still found below counts as none).
  DELETE FROM {schema}.fires AS f USING (
    SELECT job_id, scheduled_us FROM {schema}.fires WHERE expires_at < v_now
    ORDER BY expires_at LIMIT greatest(100, 2 * coalesce(array_length(p_job_ids, 1), 0))
  ) AS old WHERE f.job_id = old.job_id AND f.scheduled_us = old.scheduled_us;
  DELETE FROM {schema}.running WHERE job_id = ANY (p_job_ids) AND alive_until <= v_now;
  FOR i IN 1 .. coalesce(array_length(p_job_ids, 1), 0) LOOP
    v_owner := NULL;
    SELECT run_id INTO v_owner FROM {schema}.fires
    WHERE job_id = p_job_ids[i] AND scheduled_us = p_scheduled_us[i] AND expires_at >= v_now;
    IF v_owner IS NOT NULL THEN
      v_answers := v_answers || CASE WHEN v_owner = p_run_ids[i] THEN 'c' ELSE 'd' END;
      CONTINUE;
    ELSIF p_scheduled_us[i] <= v_floor_us THEN
      v_answers := v_answers || 'f';
      CONTINUE;
    ELSIF p_scheduled_us[i] > v_latest_us THEN
      v_answers := v_answers || 'e';
      CONTINUE;
    END IF;
    IF p_most[i] > 0 THEN
      -- Other processes' live runs of the job; a process proven dead (bury) no longer counts.
      SELECT count(*) INTO v_others FROM {schema}.running AS r
      WHERE r.job_id = p_job_ids[i] AND r.alive_until > v_now
        AND left(r.run_id, length(p_run_prefix)) <> p_run_prefix
        AND NOT EXISTS (
          SELECT 1 FROM {schema}.dead AS d
          WHERE d.prefix = left(r.run_id, length(p_run_prefix)) AND d.until > v_now
        );
      IF v_others + p_here[i] >= p_most[i] THEN
        v_answers := v_answers || 'b';
        CONTINUE;
      END IF;
    END IF;
    INSERT INTO {schema}.fires AS f
      (job_id, scheduled_us, run_id, node, term, manual, claimed_at, outcome, finished_at, error, expires_at)
    VALUES (p_job_ids[i], p_scheduled_us[i], p_run_ids[i], p_node, p_term, p_manual, p_claimed_at, 'running',
            NULL, NULL, v_now + p_retention_ms * interval '1 millisecond')
    ON CONFLICT (job_id, scheduled_us) DO UPDATE SET  -- an expired claim not yet cleared away
      run_id = excluded.run_id, node = excluded.node, term = excluded.term, manual = excluded.manual,
      claimed_at = excluded.claimed_at, outcome = excluded.outcome, finished_at = NULL, error = NULL,
      expires_at = excluded.expires_at;
    IF p_most[i] > 0 THEN
      INSERT INTO {schema}.running AS r (run_id, job_id, alive_until)
      VALUES (p_run_ids[i], p_job_ids[i], v_now + p_marker_ttl_ms * interval '1 millisecond')
      ON CONFLICT (run_id) DO UPDATE SET job_id = excluded.job_id, alive_until = excluded.alive_until;
    END IF;
    IF NOT p_manual THEN
      INSERT INTO {schema}.last_claims AS l (job_id, scheduled_us) VALUES (p_job_ids[i], p_scheduled_us[i])
      ON CONFLICT (job_id) DO UPDATE SET scheduled_us = greatest(l.scheduled_us, excluded.scheduled_us);
    END IF;
    v_answers := v_answers || 'c';
  END LOOP;
  RETURN v_answers;
END;
$$;

-- finish: record a chunk of outcomes, drop the runs' markers, add the runs to their histories
-- (finish.lua). p_retention_ms: how long a claim written again is kept; p_kept_succeeded and
-- p_kept_other: runs kept per job and kind; per run (arrays of one length): run id, job id,
-- scheduled µs, outcome, finished at, error, the run as formats/history.py encodes it.
-- A claim that is gone (expired) is written again for a run that ran, so a late keep_running
-- sees the run ended and does not bring its marker back. Each history touched is trimmed once.
CREATE OR REPLACE FUNCTION {schema}.finish(
  p_retention_ms bigint, p_kept_succeeded int, p_kept_other int,
  p_run_ids text[], p_job_ids text[], p_scheduled_us bigint[], p_outcomes text[],
  p_finished_at double precision[], p_errors text[], p_entries text[]
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_history record;
BEGIN
  PERFORM {schema}.lock_runs(p_run_ids);
  FOR i IN 1 .. coalesce(array_length(p_run_ids, 1), 0) LOOP
    UPDATE {schema}.fires SET outcome = p_outcomes[i], finished_at = p_finished_at[i], error = p_errors[i]
    WHERE job_id = p_job_ids[i] AND scheduled_us = p_scheduled_us[i] AND run_id = p_run_ids[i];
    IF NOT FOUND AND p_outcomes[i] <> 'skipped' THEN
      INSERT INTO {schema}.fires AS f (job_id, scheduled_us, run_id, outcome, finished_at, error, expires_at)
      VALUES (p_job_ids[i], p_scheduled_us[i], p_run_ids[i], p_outcomes[i], p_finished_at[i], p_errors[i],
              v_now + p_retention_ms * interval '1 millisecond')
      ON CONFLICT (job_id, scheduled_us) DO UPDATE SET
        run_id = excluded.run_id, node = NULL, term = NULL, manual = NULL, claimed_at = NULL,
        outcome = excluded.outcome, finished_at = excluded.finished_at, error = excluded.error,
        expires_at = excluded.expires_at
      WHERE f.expires_at < v_now;  -- another run's live claim stays as it is
    END IF;
    IF p_outcomes[i] <> 'abandoned' THEN  -- still running until its process exits: its marker expires
      DELETE FROM {schema}.running WHERE run_id = p_run_ids[i];
    END IF;
    INSERT INTO {schema}.runs (job_id, succeeded, entry)
    VALUES (p_job_ids[i], p_outcomes[i] = 'success', p_entries[i]);
  END LOOP;
  FOR v_history IN
    SELECT DISTINCT j AS job_id, o = 'success' AS succeeded FROM unnest(p_job_ids, p_outcomes) AS u(j, o)
  LOOP
    DELETE FROM {schema}.runs
    WHERE job_id = v_history.job_id AND succeeded = v_history.succeeded AND id < (
      SELECT id FROM {schema}.runs
      WHERE job_id = v_history.job_id AND succeeded = v_history.succeeded
      ORDER BY id DESC
      OFFSET greatest(CASE WHEN v_history.succeeded THEN p_kept_succeeded ELSE p_kept_other END, 1) - 1 LIMIT 1
    );
  END LOOP;
END;
$$;

-- keep_running: renew (or write again) the running markers of runs going on (keep_running.lua).
-- p_marker_ttl_ms: how long a marker lives unless renewed; per run: run id, job id, scheduled µs.
-- A run whose claim already carries its outcome has ended: its marker is left out.
CREATE OR REPLACE FUNCTION {schema}.keep_running(
  p_marker_ttl_ms bigint, p_run_ids text[], p_job_ids text[], p_scheduled_us bigint[]
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM {schema}.lock_runs(p_run_ids);
  -- A statement of its own: its snapshot is taken after the locks, so it sees a finish that held them.
  INSERT INTO {schema}.running AS r (run_id, job_id, alive_until)
  SELECT DISTINCT ON (u.run_id) u.run_id, u.job_id, clock_timestamp() + p_marker_ttl_ms * interval '1 millisecond'
  FROM unnest(p_run_ids, p_job_ids, p_scheduled_us) AS u(run_id, job_id, scheduled_us)
  WHERE NOT EXISTS (
    SELECT 1 FROM {schema}.fires AS f
    WHERE f.job_id = u.job_id AND f.scheduled_us = u.scheduled_us AND f.run_id = u.run_id AND f.outcome <> 'running'
  )
  ON CONFLICT (run_id) DO UPDATE SET job_id = excluded.job_id, alive_until = excluded.alive_until;
END;
$$;

-- settle: move jobs' last claims forward to p_at_us (they only ever move forward; settle.lua).
CREATE OR REPLACE FUNCTION {schema}.settle(p_at_us bigint, p_job_ids text[]) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO {schema}.last_claims AS l (job_id, scheduled_us)
  SELECT DISTINCT j, p_at_us FROM unnest(p_job_ids) AS j
  ON CONFLICT (job_id) DO UPDATE SET scheduled_us = greatest(l.scheduled_us, excluded.scheduled_us);
$$;
