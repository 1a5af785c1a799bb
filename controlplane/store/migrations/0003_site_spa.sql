-- Single-page-app sites: the edge serves index.html for paths that name no file.

ALTER TABLE sites ADD COLUMN spa boolean NOT NULL DEFAULT false;
