-- What a home's voice devices may do with sensitive actions (unlocking,
-- opening garage doors, doors, gates and valves): run them, ask for a "yes"
-- first, or refuse.
ALTER TABLE homes ADD COLUMN sensitive_policy text NOT NULL DEFAULT 'allow'
    CHECK (sensitive_policy IN ('allow', 'confirm', 'deny'));
