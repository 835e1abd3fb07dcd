-- The waiting line: a job beyond the limits of videos in progress is accepted as 'waiting' and started
-- when a slot frees. started_at: when it left the line (or, not having waited, was created); the member
-- who has waited longest since their last start goes first, and fal's deadline counts from it.
ALTER TABLE jobs ADD COLUMN started_at REAL;
UPDATE jobs SET started_at = created_at;
-- The waiting jobs of a server, oldest first: what a promotion reads.
CREATE INDEX jobs_waiting ON jobs (guild_id, created_at) WHERE state = 'waiting';
