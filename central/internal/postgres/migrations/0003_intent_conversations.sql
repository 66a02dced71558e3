-- Conversation context: the recent turns of each conversation, so that any
-- central replica can continue it ("turn it off").
CREATE TABLE conversation_turns (
    home_id         uuid NOT NULL REFERENCES homes (id) ON DELETE CASCADE,
    conversation_id text NOT NULL,
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    at              timestamptz NOT NULL,
    turn            jsonb NOT NULL,
    PRIMARY KEY (home_id, conversation_id, seq)
);
-- Expired turns are swept by age.
CREATE INDEX conversation_turns_at_idx ON conversation_turns (at);

-- Which parsers understand a home's sentences; a home without a row uses
-- the rule-based parser.
CREATE TABLE intent_pipelines (
    home_id    uuid PRIMARY KEY REFERENCES homes (id) ON DELETE CASCADE,
    pipeline   text NOT NULL CHECK (pipeline IN ('rules', 'llm', 'plugin', 'rules_then_llm')),
    updated_at timestamptz NOT NULL
);
