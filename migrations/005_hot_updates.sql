-- 005_hot_updates: leave room on every page of the tables whose rows are
-- updated in place, so that updates which change no indexed column (the SLA
-- engine flagging a breach, version bumps, most actions) are HOT updates: the
-- new row version goes on the same page and no index entry is written.
-- Existing pages keep their fill until they are rewritten; new pages get the
-- room at once.
ALTER TABLE tickets SET (fillfactor = 80);
ALTER TABLE notifications SET (fillfactor = 85);
