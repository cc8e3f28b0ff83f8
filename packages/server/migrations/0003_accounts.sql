-- Accounts and the app flow: OAuth-style apps, their access codes and refresh tokens, e-mail verification,
-- password resets, server settings and server invites. Secrets are stored as SHA-256 hex only.

CREATE TABLE apps (
  id text PRIMARY KEY,
  -- Built-in apps use their id as secret (WIRE.md), so this only keeps third-party secrets off the disk.
  secret_hash text NOT NULL,
  name text NOT NULL,
  description text,
  redirect_url text NOT NULL,
  scopes text[] NOT NULL,
  trusted boolean NOT NULL DEFAULT false,
  public boolean NOT NULL DEFAULT false,
  author_id text REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Tokens issued to an app through /auth/token remember it, so an app's tokens can be listed and revoked.
ALTER TABLE api_tokens ADD COLUMN app_id text REFERENCES apps (id) ON DELETE CASCADE;
CREATE INDEX api_tokens_app_id ON api_tokens (app_id) WHERE app_id IS NOT NULL;

-- Single use: the exchange deletes the row first, whatever the outcome.
CREATE TABLE access_codes (
  code_hash text PRIMARY KEY,
  app_id text NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  challenge text NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A refresh token is `<id><secret>` like an API token.
CREATE TABLE refresh_tokens (
  id text PRIMARY KEY,
  token_hash text NOT NULL,
  app_id text NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);

CREATE TABLE email_verifications (
  token_hash text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  email text NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_verifications_user_id ON email_verifications (user_id);

CREATE TABLE password_resets (
  token_hash text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_resets_user_id ON password_resets (user_id);

-- One row at most (id is always true); absent until the first update, the defaults apply meanwhile.
CREATE TABLE server_settings (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  name text,
  description text,
  company text,
  admin_contact text,
  terms_of_service text,
  invite_only boolean NOT NULL DEFAULT false,
  guest_mode_enabled boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE server_invites (
  id text PRIMARY KEY,
  token_hash text NOT NULL UNIQUE,
  email text NOT NULL CHECK (email = lower(email)),
  inviter_id text REFERENCES users (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX server_invites_email ON server_invites (email);
