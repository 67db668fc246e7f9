-- ferry schema, version 3: who decided a conflict, and why.
--
-- A person's decision overrides both systems, so the record keeps who made it (the OS user for
-- `ferry conflicts resolve`, the name given in the web form) and the note they left, next to
-- the decision itself. Rows decided before this version have neither (NULL).

ALTER TABLE review_queue ADD COLUMN decided_by TEXT CHECK (decided_by IS NULL OR decided_by <> '');
ALTER TABLE review_queue ADD COLUMN decision_note TEXT CHECK (decision_note IS NULL OR decision_note <> '');
