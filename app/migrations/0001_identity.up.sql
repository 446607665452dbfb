-- Users, roles and permissions (RBAC), refresh-token families.
-- Fail fast rather than queue behind a lock held by live traffic (squawk: require-*-timeout).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    time_zone     text NOT NULL DEFAULT 'UTC',
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE permissions (
    name        text PRIMARY KEY,
    description text NOT NULL
);

CREATE TABLE roles (
    name        text PRIMARY KEY,
    description text NOT NULL
);

CREATE TABLE role_permissions (
    role       text NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    permission text NOT NULL REFERENCES permissions (name) ON DELETE CASCADE,
    PRIMARY KEY (role, permission)
);

CREATE TABLE user_roles (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    text NOT NULL REFERENCES roles (name),
    PRIMARY KEY (user_id, role)
);

INSERT INTO permissions (name, description) VALUES
    ('tasks.read', 'read your own tasks'),
    ('tasks.write', 'create, change and delete your own tasks'),
    ('audit.read', 'read the audit log'),
    ('users.manage', 'grant and revoke roles');

INSERT INTO roles (name, description) VALUES
    ('member', 'an ordinary user'),
    ('admin', 'operates the service');

INSERT INTO role_permissions (role, permission) VALUES
    ('member', 'tasks.read'),
    ('member', 'tasks.write'),
    ('admin', 'tasks.read'),
    ('admin', 'tasks.write'),
    ('admin', 'audit.read'),
    ('admin', 'users.manage');

-- Refresh tokens are stored hashed; a family is one login's chain of rotations.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    family_id   uuid NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  text NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
