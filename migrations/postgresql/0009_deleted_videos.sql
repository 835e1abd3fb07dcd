-- PostgreSQL twin of migrations/0009_deleted_videos.sql: who deleted a video, and when.
ALTER TABLE videos ADD COLUMN deleted_at DOUBLE PRECISION;
ALTER TABLE videos ADD COLUMN deleted_by BIGINT;
