-- The server role an invitee registers with (Speckle's invite `serverRole`): user by default, guest when the
-- server allows guests, admin when an admin invites.
ALTER TABLE server_invites ADD COLUMN server_role text NOT NULL DEFAULT 'server:user'
  CHECK (server_role IN ('server:admin', 'server:user', 'server:guest'));
