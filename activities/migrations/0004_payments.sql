-- Money through Stripe: the payment behind a package, so refunds find their package.
ALTER TABLE packages ADD COLUMN payment_intent_id text;
CREATE INDEX packages_payment_idx ON packages (payment_intent_id) WHERE payment_intent_id IS NOT NULL;
