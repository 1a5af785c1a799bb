-- What a deploy says about itself: a message (a commit's subject, "fix the footer") and the
-- commit it was built from, given with the upload (`wharf deploy --message --commit`, CI).

ALTER TABLE deploys ADD COLUMN message text;
ALTER TABLE deploys ADD COLUMN git_commit text;
