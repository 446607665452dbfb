SET lock_timeout = '5s';
ALTER TABLE tasks DROP COLUMN IF EXISTS drill_note;
