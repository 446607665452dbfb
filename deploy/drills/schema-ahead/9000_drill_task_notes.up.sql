-- The drill's expand migration: the bad release ships it, the rollback target does not know
-- it, and must keep working on the schema it leaves (`cargo xtask drill rollback`).
SET lock_timeout = '5s';
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS drill_note text;
