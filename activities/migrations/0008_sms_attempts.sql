-- When an attempt first got as far as calling the provider: a retry after that cannot know
-- whether the message went out, so it looks the message up before sending it again.
ALTER TABLE outbound_messages ADD COLUMN provider_attempted_at timestamptz;

-- A text found in Twilio is checked against the ids other messages already recorded.
CREATE INDEX outbound_provider_message_idx ON outbound_messages (provider_message_id)
    WHERE provider_message_id IS NOT NULL;
