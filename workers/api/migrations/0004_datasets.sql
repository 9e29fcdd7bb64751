-- Token datasets (/v1/datasets): a tenant's labelled images and the background run that tokenizes them.
-- A run is fenced by run_seq (the generation jobs' pattern with `attempts`): every run and every cancel
-- increments it, queue messages carry the value they were sent under, and a consumer holding an older
-- value changes nothing. Timestamps are Unix milliseconds.

CREATE TABLE datasets (
  id TEXT PRIMARY KEY,                       -- ds_<32 base32>
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  name TEXT NOT NULL,
  model TEXT NOT NULL,
  augmentation TEXT NOT NULL CHECK (augmentation IN ('none', 'flip', 'ten_crop')),
  preprocessing TEXT NOT NULL,
  labels TEXT NOT NULL,                      -- JSON: "folders" or {"mapping": {<class>: <int>}}
  classes TEXT,                              -- JSON {<class>: <label>}, fixed when a run starts
  status TEXT NOT NULL CHECK (status IN ('open', 'queued', 'running', 'completed', 'failed', 'canceled')),
  images_total INTEGER NOT NULL DEFAULT 0,
  images_done INTEGER NOT NULL DEFAULT 0,
  run_seq INTEGER NOT NULL DEFAULT 0,        -- fencing token of the current run
  error TEXT,                                -- JSON problem (RFC 9457)
  outputs TEXT,                              -- JSON: R2 key, sha256 and size of codes, tar, manifest
  created_at INTEGER NOT NULL,
  completed_at INTEGER
);
CREATE INDEX datasets_tenant_created ON datasets (tenant_id, created_at DESC, id DESC);

-- One row per image. idx is the image's place in ImageFolder order (classes sorted, then paths
-- sorted), assigned when a run starts; token_id its token set (all augmentation rows) once tokenized.
CREATE TABLE dataset_images (
  dataset_id TEXT NOT NULL REFERENCES datasets (id),
  name TEXT NOT NULL,                        -- path inside the upload, e.g. cat/0001.jpg
  class_name TEXT NOT NULL,
  image_sha256 TEXT NOT NULL,                -- the bytes, in R2 at datasets/<tenant>/images/<sha256>
  idx INTEGER,
  token_id TEXT,
  PRIMARY KEY (dataset_id, name)
) WITHOUT ROWID;
CREATE INDEX dataset_images_order ON dataset_images (dataset_id, idx);
