-- Token listing (`activeUser.apiTokens { lastChars }`) and project invites (`projectMutations.invites`).

-- The token's last 6 characters, shown in listings to tell tokens apart (the token itself is never kept).
ALTER TABLE api_tokens ADD COLUMN last_chars text;

-- An invite to a project, for a registered user or an email address. The token is kept as is: the invitee
-- reads it in `activeUser.projectInvites` to accept, and only the invitee can use it.
CREATE TABLE project_invites (
  id text PRIMARY KEY,
  token text NOT NULL UNIQUE,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('stream:owner', 'stream:contributor', 'stream:reviewer')),
  user_id text REFERENCES users (id) ON DELETE CASCADE,
  email text CHECK (email = lower(email)),
  inviter_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((user_id IS NULL) <> (email IS NULL))
);
-- One pending invite per invitee and project.
CREATE UNIQUE INDEX project_invites_target ON project_invites (project_id, coalesce(user_id, email));
CREATE INDEX project_invites_user ON project_invites (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX project_invites_email ON project_invites (email) WHERE email IS NOT NULL;
