-- When an attempt first got as far as calling the provider: a retry after that cannot know
-- whether the message went out, so it looks the message up before sending it again.
ALTER TABLE outbound_messages ADD COLUMN provider_attempted_at timestamptz;
