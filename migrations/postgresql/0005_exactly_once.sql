-- PostgreSQL twin of migrations/0005_exactly_once.sql.
-- When the submit to fal began: a job found mid-submit (its answer lost, or the bot killed) is looked up
-- in fal's request list from this moment, so it is adopted instead of being sent twice.
ALTER TABLE jobs ADD COLUMN submitted_at DOUBLE PRECISION;

-- The last text the member must see on the progress message (done, failed, cancelled): written with the
-- final state, and kept until Discord has shown it (final_shown_at), after a restart too.
ALTER TABLE jobs ADD COLUMN final_text TEXT;
ALTER TABLE jobs ADD COLUMN final_shown_at DOUBLE PRECISION;
CREATE INDEX jobs_final_unshown ON jobs (id) WHERE final_text IS NOT NULL AND final_shown_at IS NULL;
