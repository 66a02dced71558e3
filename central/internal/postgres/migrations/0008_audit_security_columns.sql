-- Security events get columns of their own instead of the intent ones: what
-- was done (action), its particulars (detail) and where the request came
-- from (client_addr). Columns added to the partitioned parent reach every
-- partition, and without a volatile default adding them rewrites nothing.
-- Rows written before keep their action in intent and their details, with
-- "client_addr", in slots: moving them would change what their hashes cover
-- (ADR 0029), so readers take either shape.

ALTER TABLE audit_records
    ADD COLUMN action      text NOT NULL DEFAULT '',
    ADD COLUMN detail      jsonb,
    ADD COLUMN client_addr inet;

CREATE INDEX audit_records_action_time_idx ON audit_records (action, time, id);
