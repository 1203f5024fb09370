-- Operators may lift a remedy (veilctl remedy lift): when, recorded here
-- and as an audit event.
ALTER TABLE remedies ADD COLUMN lifted_at BIGINT;
