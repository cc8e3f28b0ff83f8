-- Identity: users, their API tokens, projects (Speckle "streams"), project roles and models ("branches").
-- Ids are 10-character random strings as in Speckle. Later issues extend these with new numbered files.

CREATE TABLE users (
  id text PRIMARY KEY,
  -- Stored lower-cased, so the unique index is case-insensitive in effect.
  email text NOT NULL UNIQUE CHECK (email = lower(email)),
  name text NOT NULL,
  -- Argon2id PHC string; null for users who only sign in through an identity provider.
  password_hash text,
  server_role text NOT NULL DEFAULT 'server:user'
    CHECK (server_role IN ('server:admin', 'server:user', 'server:guest', 'server:archived-user')),
  verified boolean NOT NULL DEFAULT false,
  company text,
  bio text,
  avatar text,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A token is `<id><secret>` (10 + 32 characters); only the SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
  id text PRIMARY KEY,
  token_hash text NOT NULL,
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name text NOT NULL,
  scopes text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE projects (
  id text PRIMARY KEY,
  name text NOT NULL,
  description text,
  visibility text NOT NULL DEFAULT 'private' CHECK (visibility IN ('public', 'private', 'unlisted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE project_roles (
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('stream:owner', 'stream:contributor', 'stream:reviewer')),
  PRIMARY KEY (project_id, user_id)
);
-- "Projects I have a role on" looks roles up by user.
CREATE INDEX project_roles_user_id ON project_roles (user_id);

CREATE TABLE models (
  id text PRIMARY KEY,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name text NOT NULL,
  description text,
  -- No foreign key: a model keeps its author's id after the author's account is deleted (as Speckle).
  author_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (project_id, name)
);
