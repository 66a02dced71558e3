-- Security events get columns of their own instead of the intent ones: what
-- was done (action), its particulars (detail) and where the request came
-- from (client_addr). Columns added to the partitioned parent reach every
-- partition, and without a default adding them rewrites nothing. Action is
-- NULL but for security events, so that the planner's estimate for
-- "action = $1" stays small even in a generic plan and the index serves it.
-- Rows written before keep their action in intent and their details, with
-- "client_addr", in slots: moving them would change what their hashes cover
-- (ADR 0029), so readers take either shape.

ALTER TABLE audit_records
    ADD COLUMN action      text,
    ADD COLUMN detail      jsonb,
    ADD COLUMN client_addr inet;

CREATE INDEX audit_records_action_time_idx ON audit_records (action, time, id);
