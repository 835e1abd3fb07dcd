-- A delivered video a member or a moderator deleted (the 🗑️ Delete button): its message is gone from
-- Discord, it is no longer offered for remix, and /videos leaves it out (`WHERE deleted_at IS NULL`).
-- The row stays: its job and the ledger are kept as they were (the member paid; nothing is refunded).
-- deleted_by is the audit: who deleted it (the owner, or a member with Manage Messages).
ALTER TABLE videos ADD COLUMN deleted_at REAL;
ALTER TABLE videos ADD COLUMN deleted_by INTEGER;
