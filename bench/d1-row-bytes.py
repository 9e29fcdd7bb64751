"""Bytes a D1 database grows by per ownership grant and per generation job: the Worker's migrations
applied to SQLite (what D1 runs), filled with rows shaped like the Worker's, size read from the pages.

    python3 bench/d1-row-bytes.py [--grants 200000] [--jobs 20000] [--images-per-job 16]

Ids are the real formats (prefix + 32 base32 characters); a job's params, result and done_token_ids are
JSON of the sizes a GPT-B job of that many images writes. Prints one JSON object.
"""
import argparse
import json
import pathlib
import random
import sqlite3
import string

ROOT = pathlib.Path(__file__).resolve().parent.parent
B32 = string.ascii_lowercase + "234567"


def rid(prefix: str) -> str:
    return prefix + "_" + "".join(random.choice(B32) for _ in range(32))


def size(db: sqlite3.Connection) -> int:
    (pages,) = db.execute("PRAGMA page_count").fetchone()
    (page,) = db.execute("PRAGMA page_size").fetchone()
    return pages * page


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--grants", type=int, default=200_000)
    p.add_argument("--jobs", type=int, default=20_000)
    p.add_argument("--images-per-job", type=int, default=16)
    p.add_argument("--tenants", type=int, default=10_000)
    a = p.parse_args()
    random.seed(1)
    db = sqlite3.connect(":memory:")
    for migration in sorted((ROOT / "workers/api/migrations").glob("*.sql")):
        db.executescript(migration.read_text())
    tenants = [rid("ten") for _ in range(a.tenants)]
    now = 1_764_720_000_000
    db.executemany(
        "INSERT INTO tenants (id, name, webhook_secret, created_at) VALUES (?, ?, ?, ?)",
        [(t, "tenant " + t[-6:], "whsec_" + "x" * 32, now) for t in tenants],
    )
    empty = size(db)

    db.executemany(
        "INSERT INTO objects (tenant_id, object_id, created_at) VALUES (?, ?, ?)",
        [(random.choice(tenants), rid(random.choice(["tok", "img"])), now + i) for i in range(a.grants)],
    )
    with_grants = size(db)

    n = a.images_per_job
    params = json.dumps(
        {"class_ids": [random.randrange(1000) for _ in range(n)], "count": n, "cfg_scale": 1.75,
         "cfg_schedule": "step", "temperature": 1.0, "top_k": 0, "top_p": 1.0, "seed": 2**52 + 17,
         "format": "png"}
    )
    for i in range(a.jobs):
        token_ids = [rid("tok") for _ in range(n)]
        result = json.dumps(
            {"images": [{"index": k, "token_id": t, "image_id": rid("img"), "class_id": 207, "seed": 17}
                        for k, t in enumerate(token_ids)]}
        )
        db.execute(
            "INSERT INTO jobs (id, tenant_id, status, model, params, params_key, cached, attempts, result,"
            " created_at, started_at, completed_at, images_done, done_token_ids, chunk_recorded_at)"
            " VALUES (?, ?, 'succeeded', 'gigatok-ss-gptb', ?, ?, 0, 1, ?, ?, ?, ?, ?, ?, ?)",
            (rid("job"), random.choice(tenants), params, rid("gpk"), result, now + i, now + i, now + i, n,
             json.dumps(token_ids), now + i),
        )
    with_jobs = size(db)
    print(json.dumps({
        "sqlite": sqlite3.sqlite_version,
        "grants": a.grants,
        "bytes_per_grant": round((with_grants - empty) / a.grants, 1),
        "jobs": a.jobs,
        "images_per_job": n,
        "bytes_per_job": round((with_jobs - with_grants) / a.jobs, 1),
    }))


if __name__ == "__main__":
    main()
