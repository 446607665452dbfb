-- Tasks, the service's core resource. Soft-deleted rows keep `deleted_at`.
CREATE TABLE tasks (
    id          uuid PRIMARY KEY,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'cancelled', 'archived')),
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
