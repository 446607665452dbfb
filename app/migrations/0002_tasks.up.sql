-- Tasks, owned by a user. Soft-deleted rows keep `deleted_at`; `version` backs ETag / If-Match.
-- Fail fast rather than queue behind a lock held by live traffic (squawk: require-*-timeout).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';

-- The 32-bit columns are bounded (interval ≤ 366, occurrence and version count edits of one
-- task, HTTP status < 600): each carries a `squawk-ignore` for prefer-bigint.
CREATE TABLE tasks (
    id                   uuid PRIMARY KEY,
    owner_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title                text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description          text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    status               text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'cancelled', 'archived')),
    due_at               timestamptz,
    recurrence_frequency text CHECK (recurrence_frequency IN ('daily', 'weekly', 'monthly')),
    -- squawk-ignore prefer-bigint-over-int
    recurrence_interval  integer CHECK (recurrence_interval BETWEEN 1 AND 366),
    series_anchor        timestamptz,
    -- squawk-ignore prefer-bigint-over-int
    occurrence           integer NOT NULL DEFAULT 0,
    -- squawk-ignore prefer-bigint-over-int
    version              integer NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    completed_at         timestamptz,
    deleted_at           timestamptz,
    CHECK ((recurrence_frequency IS NULL) = (recurrence_interval IS NULL)),
    CHECK (recurrence_frequency IS NULL OR (due_at IS NOT NULL AND series_anchor IS NOT NULL))
);

CREATE INDEX tasks_owner_listing ON tasks (owner_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- `Idempotency-Key` replays: the stored response of the first request with a key.
CREATE TABLE idempotency_keys (
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key             text NOT NULL,
    request_hash    text NOT NULL,
    -- squawk-ignore prefer-bigint-over-smallint
    response_status smallint NOT NULL,
    response_body   jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
