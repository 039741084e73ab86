//! Fixtures shared by the language server's tests.

use std::fs;
use std::path::{Path, PathBuf};

/// A small Python workspace: an upload retry, a slug helper, statistics; its canonical root.
pub fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let files = [
        (
            "net/retry.py",
            "import time\n\n\ndef retry_upload(send, attempts=3):\n    \"\"\"Retry a failed upload with exponential backoff.\"\"\"\n    for attempt in range(attempts):\n        try:\n            return send()\n        except IOError:\n            time.sleep(2 ** attempt)\n    raise IOError(\"upload failed\")\n",
        ),
        (
            "text/slug.py",
            "import re\n\n\ndef slugify(title):\n    \"\"\"Turn a title into a URL slug.\"\"\"\n    return re.sub(r\"[^a-z0-9]+\", \"-\", title.lower()).strip(\"-\")\n",
        ),
        (
            "math/stats.py",
            "def mean(values):\n    \"\"\"The arithmetic mean of a list of numbers.\"\"\"\n    return sum(values) / len(values)\n\n\ndef median(values):\n    ordered = sorted(values)\n    mid = len(ordered) // 2\n    return ordered[mid]\n",
        ),
    ];
    for (path, text) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    (dir, root)
}

/// `net/retry2.py`: a near copy of `retry_upload`, what similar-code should find.
pub fn write_retry_download(root: &Path) {
    fs::write(
        root.join("net/retry2.py"),
        "import time\n\n\ndef retry_download(fetch, attempts=5):\n    for attempt in range(attempts):\n        try:\n            return fetch()\n        except IOError:\n            time.sleep(2 ** attempt)\n    raise IOError(\"download failed\")\n",
    )
    .unwrap();
}
