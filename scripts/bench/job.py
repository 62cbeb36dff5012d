"""The benchmark job as a plain Python script: the baseline huntbook is measured against.

token -> hunt (Graph runHuntingQuery) -> JSONPath filter (jsonpath-ng) -> CSV (csv module)
+ Markdown summary (jinja2), both written atomically and durably like huntbook's outputs,
with the same formula neutralisation on CSV string cells.

Usage: job.py BASE_URL OUT_DIR TEMPLATE
"""

import csv
import os
import sys
import tempfile

import jinja2
import requests
from jsonpath_ng.ext import parse

# jsonpath-ng spells the filter with parentheses; the summary shows the RFC 9535 form that
# huntbook runs, so both jobs write byte-identical files.
PATH = "$[?(@.AccountName != 'system')]"
SHOWN_PATH = "$[?@.AccountName != 'system']"
QUERY = (
    "DeviceProcessEvents | where Timestamp > ago(1d) | project Timestamp, DeviceId, DeviceName, "
    "ActionType, FileName, FolderPath, SHA256, ProcessCommandLine, AccountDomain, AccountName, "
    "InitiatingProcessFileName, ReportId"
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_atomically(path, fill, newline=None):
    """Temp file in the target's folder, fsync, rename, fsync the folder: what huntbook's
    outputs do (fsutil::AtomicFile), so both jobs pay for the same durability."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def cell(v):
    if v is None:
        return ""
    if isinstance(v, str):
        return "'" + v if v.startswith(FORMULA_START) else v
    return v


def main():
    base, out_dir, template_path = sys.argv[1:4]
    with open(template_path, encoding="utf-8") as f:
        template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(f.read())
    matcher = parse(PATH)

    session = requests.Session()
    token = session.post(
        f"{base}/bench-tenant/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "00000000-0000-0000-0000-00000000b0b0",
            "client_secret": "bench-secret",
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    token.raise_for_status()
    access = token.json()["access_token"]

    resp = session.post(
        f"{base}/v1.0/security/runHuntingQuery",
        json={"Query": QUERY},
        headers={"Authorization": f"Bearer {access}"},
    )
    resp.raise_for_status()
    data = resp.json()
    columns = [c["name"] for c in data["schema"]]
    results = data["results"]

    items = [m.value for m in matcher.find(results)]

    def fill_csv(f):
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for r in items:
            w.writerow([cell(r.get(c)) for c in columns])

    write_atomically(os.path.join(out_dir, "noisy.csv"), fill_csv, newline="")
    md = template.render(total=len(results), path=SHOWN_PATH, items=items)
    write_atomically(os.path.join(out_dir, "summary.md"), lambda f: f.write(md))


if __name__ == "__main__":
    main()
