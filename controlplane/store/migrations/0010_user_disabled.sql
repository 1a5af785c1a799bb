-- Disabling a user: while disabled_at is set they cannot sign in, their tokens are refused, and
-- disabling them ends their UI sessions. Enabling clears it; nothing else of theirs changes.

ALTER TABLE users ADD COLUMN disabled_at timestamptz;
