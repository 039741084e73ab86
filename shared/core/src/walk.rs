//! Finding the files worth indexing: ignore rules, sane default exclusions, and content checks.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use ignore::WalkBuilder;

use crate::disk_wait::DiskWait;
use crate::lang::{self, Language};

/// Files larger than this are skipped: they are data or generated, rarely code someone wrote.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// A line longer than this marks minified or generated text.
const MAX_LINE_BYTES: usize = 4096;

/// Directories that hold other people's code or build output, skipped even when no ignore
/// file names them.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "bower_components",
    "vendor",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    "site-packages",
    ".gradle",
    ".idea",
];

const LOCK_FILES: &[&str] = &[
    "cargo.lock",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "pipfile.lock",
    "gemfile.lock",
    "composer.lock",
    "go.sum",
    "uv.lock",
    "bun.lockb",
    "flake.lock",
    "packages.lock.json",
    "podfile.lock",
    "mix.lock",
    "pubspec.lock",
];

/// Why a file was left out. Counted, so a user can tell "not indexed" from "not found".
/// Stored by variant index (the index remembers files it skipped): new reasons go last.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum SkipReason {
    UnknownType,
    TooLarge,
    LockFile,
    Minified,
    Generated,
    Binary,
    NotUtf8,
    Unreadable,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::UnknownType => "not a known text type",
            SkipReason::TooLarge => "over 1 MiB",
            SkipReason::LockFile => "lock file",
            SkipReason::Minified => "minified or very long lines",
            SkipReason::Generated => "generated",
            SkipReason::Binary => "binary",
            SkipReason::NotUtf8 => "not UTF-8",
            SkipReason::Unreadable => "unreadable",
        }
    }
}

/// A file the walk found, with what `index` needs to tell whether it changed.
#[derive(Clone, Debug)]
pub struct WalkedFile {
    /// Relative to the workspace root, `/`-separated.
    pub rel_path: String,
    pub abs_path: PathBuf,
    pub size: u64,
    pub mtime_ns: u64,
}

#[derive(Debug, Default)]
pub struct WalkReport {
    /// Sorted by `rel_path`.
    pub files: Vec<WalkedFile>,
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Entries the walk could not read (permissions, symlink loops), with the reason.
    pub errors: Vec<String>,
    /// Set when ignore rules left nothing to index although the tree holds code: which rule
    /// did it and how to get past it.
    pub all_ignored: Option<String>,
}

impl WalkReport {
    fn skip(&mut self, reason: SkipReason) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    fn absorb(&mut self, other: WalkReport) {
        self.files.extend(other.files);
        for (reason, n) in other.skipped {
            *self.skipped.entry(reason).or_default() += n;
        }
        self.errors.extend(other.errors);
    }
}

/// A parallel walk's threads: each admits into a report of its own, merged when it ends.
struct Admitting<'a> {
    root: &'a Path,
    merged: &'a std::sync::Mutex<WalkReport>,
    disk: &'a DiskWait,
}

struct Admitter<'a> {
    root: &'a Path,
    report: WalkReport,
    merged: &'a std::sync::Mutex<WalkReport>,
    disk: &'a DiskWait,
}

impl<'s> ignore::ParallelVisitorBuilder<'s> for Admitting<'s> {
    fn build(&mut self) -> Box<dyn ignore::ParallelVisitor + 's> {
        Box::new(Admitter {
            root: self.root,
            report: WalkReport::default(),
            merged: self.merged,
            disk: self.disk,
        })
    }
}

impl ignore::ParallelVisitor for Admitter<'_> {
    fn visit(&mut self, entry: Result<ignore::DirEntry, ignore::Error>) -> ignore::WalkState {
        self.disk.answered();
        admit(self.root, entry, &mut self.report);
        ignore::WalkState::Continue
    }
}

impl Drop for Admitter<'_> {
    fn drop(&mut self) {
        let report = std::mem::take(&mut self.report);
        self.merged.lock().expect("walk report lock").absorb(report);
    }
}

/// Paths a user keeps out of the index beyond the ignore files: globs in `.gitignore` syntax
/// (`vendor/`, `*.pb.go`, `docs/**/*.md`), relative to the workspace root.
#[derive(Clone, Debug, Default)]
pub struct Excludes {
    globs: Vec<String>,
}

impl Excludes {
    /// Checks every glob; the error names the first bad one.
    pub fn new(globs: &[String]) -> Result<Excludes, String> {
        let excludes = Excludes {
            globs: globs.to_vec(),
        };
        excludes.build(Path::new("/"))?;
        Ok(excludes)
    }

    pub fn globs(&self) -> &[String] {
        &self.globs
    }

    fn build(&self, root: &Path) -> Result<ignore::overrides::Override, String> {
        let mut builder = ignore::overrides::OverrideBuilder::new(root);
        for glob in &self.globs {
            // An override glob includes; `!` makes it exclude.
            builder
                .add(&format!("!{glob}"))
                .map_err(|e| format!("invalid exclude glob `{glob}`: {e}"))?;
        }
        builder.build().map_err(|e| e.to_string())
    }
}

/// Lists the files under `root` that Scry indexes: honours `.gitignore` (also outside a git
/// repository), `.ignore`, git's global excludes, `.scryignore` and `excludes`; skips hidden
/// files, vendored directories, lock files, minified and oversized files. Each entry counts as
/// an answer of the disk in `disk`.
pub fn walk(root: &Path, excludes: &Excludes, disk: &DiskWait) -> WalkReport {
    let _waiting = disk.begin();
    let mut report = WalkReport::default();
    let overrides = overrides(root, excludes, &mut report);
    // On every core: a large tree's walk is mostly stat and readdir calls.
    let merged = std::sync::Mutex::new(report);
    builder(root, overrides)
        .build_parallel()
        .visit(&mut Admitting {
            root,
            merged: &merged,
            disk,
        });
    let mut report = merged.into_inner().expect("walk report lock");
    report.files.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    report.errors.sort();
    if report.files.is_empty() {
        report.all_ignored = explain_all_ignored(root);
    }
    report
}

/// What [`walk`] would find at `paths` (absolute: files, directories, or paths gone from
/// disk, as a file watcher names them), without walking the rest of the tree; and the
/// workspace paths they cover, for telling which indexed files are gone. `None` when one of
/// them is the root itself or lies outside it: walk everything then.
pub fn walk_paths(
    root: &Path,
    excludes: &Excludes,
    paths: &[PathBuf],
    disk: &DiskWait,
) -> Option<(WalkReport, Vec<String>)> {
    let _waiting = disk.begin();
    let mut report = WalkReport::default();
    let overrides = overrides(root, excludes, &mut report);
    let mut scope = Vec::new();
    // Files are looked for in their directory (one level, so its ignore rules and those of
    // every directory above apply as in the full walk); directories are walked whole.
    let mut files_by_dir: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    let mut dirs = Vec::new();
    for path in paths {
        let rel = relative(root, path).filter(|r| !r.is_empty())?;
        scope.push(rel.clone());
        let never_walked = rel
            .split('/')
            .any(|c| c.starts_with('.') || SKIPPED_DIRS.contains(&c));
        if never_walked {
            continue;
        }
        let meta = std::fs::symlink_metadata(path);
        disk.answered();
        match meta {
            Ok(meta) if meta.is_dir() => dirs.push(path.clone()),
            Ok(_) => {
                let dir = path.parent().unwrap_or(root).to_path_buf();
                files_by_dir.entry(dir).or_default().push(path.clone());
            }
            Err(_) => {}
        }
    }
    let mut reached = HashMap::new();
    for (dir, files) in files_by_dir {
        if !reachable(root, &dir, &overrides, &mut reached) {
            continue;
        }
        let entries = builder(&dir, overrides.clone()).max_depth(Some(1)).build();
        for entry in entries {
            disk.answered();
            if entry
                .as_ref()
                .is_ok_and(|e| files.iter().any(|f| f == e.path()))
            {
                admit(root, entry, &mut report);
            }
        }
    }
    for dir in dirs {
        if !reachable(root, &dir, &overrides, &mut reached) {
            continue;
        }
        for entry in builder(&dir, overrides.clone()).build() {
            disk.answered();
            admit(root, entry, &mut report);
        }
    }
    report.files.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    report.files.dedup_by(|a, b| a.rel_path == b.rel_path);
    Some((report, scope))
}

/// Whether the whole walk enters `dir`: every directory on the way down from `root` is listed
/// by its parent's walk (not ignored, hidden or vendored). A walk started inside `dir` would
/// not know: it applies the rules above it only to what it finds below.
fn reachable(
    root: &Path,
    dir: &Path,
    overrides: &ignore::overrides::Override,
    reached: &mut HashMap<PathBuf, bool>,
) -> bool {
    if dir == root {
        return true;
    }
    if let Some(&known) = reached.get(dir) {
        return known;
    }
    let listed = match dir.parent() {
        Some(parent) if parent.starts_with(root) => {
            reachable(root, parent, overrides, reached)
                && builder(parent, overrides.clone())
                    .max_depth(Some(1))
                    .build()
                    .filter_map(Result::ok)
                    .any(|e| e.path() == dir)
        }
        _ => false,
    };
    reached.insert(dir.to_path_buf(), listed);
    listed
}

fn overrides(
    root: &Path,
    excludes: &Excludes,
    report: &mut WalkReport,
) -> ignore::overrides::Override {
    excludes.build(root).unwrap_or_else(|err| {
        report.errors.push(err);
        ignore::overrides::Override::empty()
    })
}

/// The walk's rules: honours `.gitignore` (also outside a git repository), `.ignore`, git's
/// global excludes, `.scryignore` and the excludes; skips hidden files and vendored
/// directories.
fn builder(start: &Path, overrides: ignore::overrides::Override) -> WalkBuilder {
    let mut builder = WalkBuilder::new(start);
    builder
        .overrides(overrides)
        .hidden(true)
        .git_ignore(true)
        .git_global(true)
        .git_exclude(true)
        .require_git(false)
        .follow_links(false)
        .add_custom_ignore_filename(".scryignore")
        .filter_entry(|entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            !(is_dir
                && entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| SKIPPED_DIRS.contains(&n)))
        });
    builder
}

/// Adds a walked entry to the report if it is a file worth indexing, or counts why not.
fn admit(root: &Path, entry: Result<ignore::DirEntry, ignore::Error>, report: &mut WalkReport) {
    let entry = match entry {
        Ok(entry) => entry,
        Err(err) => {
            report.errors.push(err.to_string());
            return;
        }
    };
    if !entry.file_type().is_some_and(|t| t.is_file()) {
        return;
    }
    let path = entry.path();
    let Some(rel_path) = relative(root, path) else {
        return;
    };
    let name = entry.file_name().to_string_lossy().to_ascii_lowercase();
    if LOCK_FILES.contains(&name.as_str()) {
        report.skip(SkipReason::LockFile);
        return;
    }
    if is_minified_or_generated_name(&name) {
        report.skip(SkipReason::Generated);
        return;
    }
    let meta = match entry.metadata() {
        Ok(meta) => meta,
        Err(err) => {
            report.errors.push(format!("{rel_path}: {err}"));
            report.skip(SkipReason::Unreadable);
            return;
        }
    };
    if meta.len() > MAX_FILE_BYTES {
        report.skip(SkipReason::TooLarge);
        return;
    }
    // Extension-less files may be scripts known by their `#!` line: `read` decides those.
    if name.contains('.') && lang::detect(path, None).is_none() {
        report.skip(SkipReason::UnknownType);
        return;
    }
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    report.files.push(WalkedFile {
        rel_path,
        abs_path: path.to_path_buf(),
        size: meta.len(),
        mtime_ns,
    });
}

/// When the walk found nothing: whether ignore rules hid code files, and which rule. Debian's
/// source tarballs, for one, ship a `.gitignore` ending in `/*`, which ignores the whole tree.
fn explain_all_ignored(root: &Path) -> Option<String> {
    let code: Vec<String> = WalkBuilder::new(root)
        .standard_filters(false)
        .hidden(true)
        .filter_entry(|e| {
            e.file_name()
                .to_str()
                .is_none_or(|n| !SKIPPED_DIRS.contains(&n))
        })
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter(|e| lang::detect(e.path(), None).is_some())
        .filter_map(|e| relative(root, e.path()))
        .take(100)
        .collect();
    if code.is_empty() {
        return None;
    }
    let rules: Vec<ignore::gitignore::Gitignore> = IGNORE_FILES
        .iter()
        .map(|name| root.join(name))
        .filter(|path| path.is_file())
        .map(|path| ignore::gitignore::Gitignore::new(path).0)
        .collect();
    let rule = code.iter().find_map(|rel| {
        rules
            .iter()
            .find_map(|g| match g.matched_path_or_any_parents(rel, false) {
                ignore::Match::Ignore(glob) => Some(glob.clone()),
                _ => None,
            })
    });
    let scryignore = root.join(".scryignore");
    Some(match rule {
        Some(glob) => format!(
            "nothing to index: the rule `{}` in {} ignores every code file here (e.g. {}); to index them anyway, add `!{}` to {}, which takes precedence",
            glob.original(),
            glob.from().unwrap_or(root).display(),
            code[0],
            glob.original(),
            scryignore.display(),
        ),
        None => format!(
            "nothing to index: ignore rules (.gitignore, .ignore, git's excludes) leave out every code file here (e.g. {}); `!` rules in {} take precedence over them",
            code[0],
            scryignore.display(),
        ),
    })
}

/// The files whose rules the walk honours in every directory (besides git's own excludes).
pub const IGNORE_FILES: [&str; 3] = [".gitignore", ".ignore", ".scryignore"];

/// Tells a file watcher's events worth an update from those that cannot change the index
/// (build output, `.git`, vendored directories): a cheap first cut by path alone, from the
/// root's ignore files and the walk's own rules; the walk still decides what gets indexed.
pub struct ChangeFilter {
    root: PathBuf,
    ignores: Vec<ignore::gitignore::Gitignore>,
    excludes: Option<ignore::overrides::Override>,
}

impl ChangeFilter {
    /// Reads the root's `.gitignore`, `.ignore` and `.scryignore`; build it again when one of
    /// them changes.
    pub fn new(root: &Path, excludes: &Excludes) -> ChangeFilter {
        let ignores = IGNORE_FILES
            .iter()
            .map(|name| root.join(name))
            .filter(|path| path.is_file())
            .map(|path| ignore::gitignore::Gitignore::new(path).0)
            .collect();
        ChangeFilter {
            root: root.to_path_buf(),
            ignores,
            excludes: excludes.build(root).ok(),
        }
    }

    /// Whether a change at `path` (absolute) may change what the index holds.
    pub fn is_relevant(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.root) else {
            return false;
        };
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if IGNORE_FILES.contains(&name) {
            return true;
        }
        let hidden_or_skipped = rel.components().any(|c| {
            c.as_os_str()
                .to_str()
                .is_some_and(|c| c.starts_with('.') || SKIPPED_DIRS.contains(&c))
        });
        if hidden_or_skipped {
            return false;
        }
        let is_dir = path.is_dir();
        let ignored = self.ignored(rel, is_dir);
        let excluded = self
            .excludes
            .as_ref()
            .is_some_and(|o| o.matched(rel, is_dir).is_ignore());
        !ignored && !excluded
    }
}

impl ChangeFilter {
    /// As the walk decides: each directory on the way down, then the entry, is matched against
    /// the root's ignore files, and the one of highest precedence with a matching rule decides
    /// (`.scryignore`, then `.ignore`, then `.gitignore`), so a `!` rule in `.scryignore` brings
    /// back what `.gitignore` leaves out.
    fn ignored(&self, rel: &Path, is_dir: bool) -> bool {
        let depth = rel.components().count();
        let mut prefix = PathBuf::new();
        for (i, part) in rel.components().enumerate() {
            prefix.push(part);
            let prefix_is_dir = i + 1 < depth || is_dir;
            for rules in self.ignores.iter().rev() {
                match rules.matched(&prefix, prefix_is_dir) {
                    ignore::Match::Ignore(_) => return true,
                    ignore::Match::Whitelist(_) => break,
                    ignore::Match::None => {}
                }
            }
        }
        false
    }
}

/// `path` (absolute, or relative to `root`) as a workspace path (`/`-separated, relative to
/// `root`, which must be canonical); `None` when it lies outside. Symlinks resolve where the
/// path exists; a file not on disk yet (an unsaved buffer) resolves through its directory.
pub fn workspace_path(root: &Path, path: &Path) -> Option<String> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    };
    let resolved = abs.canonicalize().ok().or_else(|| {
        let dir = abs.parent()?.canonicalize().ok()?;
        Some(dir.join(abs.file_name()?))
    });
    relative(root, resolved.as_deref().unwrap_or(&abs))
}

fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

fn is_minified_or_generated_name(name: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        ".min.js",
        ".min.css",
        ".map",
        ".bundle.js",
        ".pb.go",
        "_pb2.py",
        "_pb2_grpc.py",
        ".pb.cc",
        ".pb.h",
        ".g.dart",
        ".designer.cs",
        ".generated.cs",
        ".generated.ts",
    ];
    SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// A file's text, once its content has passed the checks a path cannot make.
pub struct FileText {
    pub text: String,
    pub language: &'static Language,
}

/// The version of the rules that make a file unindexable once read (binary, not UTF-8, no
/// known type): bumped when they change, a language learnt above all (a test of `lang` names
/// the languages it was bumped for), so that files an index remembers as skipped are read
/// again by a binary that may index them.
pub(crate) const CLASSIFIER: u32 = 1;

/// The hash of a file's bytes, as the index records it.
pub fn file_hash(bytes: &[u8]) -> [u8; 16] {
    blake3::hash(bytes).as_bytes()[..16]
        .try_into()
        .expect("16 bytes")
}

/// Every file the walk finds under `root`, with [`file_hash`] of its bytes (unreadable ones left
/// out), read in parallel: what a copy of a workspace holds, to compare with another's.
pub fn hashed_files(root: &Path, excludes: &Excludes) -> Vec<(String, [u8; 16])> {
    use rayon::prelude::*;
    walk(root, excludes, &DiskWait::default())
        .files
        .par_iter()
        .filter_map(|f| {
            Some((
                f.rel_path.clone(),
                file_hash(&std::fs::read(&f.abs_path).ok()?),
            ))
        })
        .collect()
}

/// Reads a walked file and decides, from its content, whether to index it.
pub fn read(file: &WalkedFile) -> Result<FileText, SkipReason> {
    let bytes = std::fs::read(&file.abs_path).map_err(|_| SkipReason::Unreadable)?;
    classify(&file.abs_path, bytes)
}

/// The checks of [`read`] on bytes already in hand (an editor's unsaved buffer, say).
pub fn classify(path: &Path, bytes: Vec<u8>) -> Result<FileText, SkipReason> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(SkipReason::TooLarge);
    }
    if bytes[..bytes.len().min(8192)].contains(&0) {
        return Err(SkipReason::Binary);
    }
    let text = String::from_utf8(bytes).map_err(|_| SkipReason::NotUtf8)?;
    let first_line = text.lines().next();
    let language = lang::detect(path, first_line).ok_or(SkipReason::UnknownType)?;
    let longest_line = text.split('\n').map(str::len).max().unwrap_or(0);
    if longest_line > MAX_LINE_BYTES {
        return Err(SkipReason::Minified);
    }
    if has_generated_marker(&text) {
        return Err(SkipReason::Generated);
    }
    Ok(FileText { text, language })
}

/// Tools that generate code say so near the top (`@generated`, Go's "Code generated … DO NOT EDIT").
fn has_generated_marker(text: &str) -> bool {
    text.lines().take(5).any(|line| {
        let line = line.to_ascii_lowercase();
        line.contains("@generated")
            || line.contains("do not edit")
            || line.contains("auto-generated")
            || line.contains("autogenerated")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(root: &Path, rel: &str, content: &[u8]) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    #[test]
    fn honours_ignore_files_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "src/main.rs", b"fn main() {}\n");
        write(root, "src/gen.rs", b"fn gen() {}\n");
        write(root, ".gitignore", b"build/\n");
        write(root, ".scryignore", b"src/gen.rs\n");
        write(root, "build/out.rs", b"fn out() {}\n");
        write(root, "node_modules/x/index.js", b"function x() {}\n");
        write(root, "Cargo.lock", b"# lock\n");
        write(root, "app.min.js", b"var a=1;\n");
        write(root, "big.py", &vec![b'#'; (MAX_FILE_BYTES + 1) as usize]);
        write(root, "image.png", b"\x89PNG");
        write(root, "scripts/deploy", b"#!/bin/sh\necho hi\n");
        let report = walk(root, &Excludes::default(), &DiskWait::default());
        let paths: Vec<&str> = report.files.iter().map(|f| f.rel_path.as_str()).collect();
        assert_eq!(paths, ["scripts/deploy", "src/main.rs"]);
        assert_eq!(report.skipped[&SkipReason::LockFile], 1);
        assert_eq!(report.skipped[&SkipReason::Generated], 1);
        assert_eq!(report.skipped[&SkipReason::TooLarge], 1);
        assert_eq!(report.skipped[&SkipReason::UnknownType], 1);
    }

    #[test]
    fn content_checks() {
        let p = Path::new("a.py");
        assert_eq!(
            classify(p, b"x = 1\x00\n".to_vec()).err(),
            Some(SkipReason::Binary)
        );
        assert_eq!(
            classify(p, vec![0xff, 0xfe, b'a']).err(),
            Some(SkipReason::NotUtf8)
        );
        let long = format!("x = '{}'\n", "a".repeat(MAX_LINE_BYTES));
        assert_eq!(
            classify(p, long.into_bytes()).err(),
            Some(SkipReason::Minified)
        );
        let generated = b"# Code generated by protoc. DO NOT EDIT.\nx = 1\n".to_vec();
        assert_eq!(classify(p, generated).err(), Some(SkipReason::Generated));
        assert_eq!(
            classify(Path::new("tool"), b"no shebang".to_vec()).err(),
            Some(SkipReason::UnknownType)
        );
        assert_eq!(
            classify(p, b"def f():\n    pass\n".to_vec())
                .unwrap()
                .language
                .name,
            "python"
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_are_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a/ok.rs", b"fn ok() {}\n");
        std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("a/loop")).unwrap();
        let report = walk(dir.path(), &Excludes::default(), &DiskWait::default());
        assert_eq!(report.files.len(), 1);
    }

    #[test]
    fn watched_changes_follow_the_ignore_files_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "kernel/sched.c", b"int x;\n");
        write(root, "kernel/sched.o", b"\x7fELF");
        write(root, ".gitignore", b"*.o\n/*\n");
        let filter = ChangeFilter::new(root, &Excludes::default());
        assert!(!filter.is_relevant(&root.join("kernel/sched.c")));
        assert!(filter.is_relevant(&root.join(".gitignore")));
        // `.scryignore` takes precedence: the tree comes back, its object files stay out.
        write(root, ".scryignore", b"!/*\n");
        let filter = ChangeFilter::new(root, &Excludes::default());
        assert!(filter.is_relevant(&root.join("kernel/sched.c")));
        assert!(filter.is_relevant(&root.join("kernel/new.c")));
        assert!(!filter.is_relevant(&root.join("kernel/sched.o")));
        let walked: Vec<String> = walk(root, &Excludes::default(), &DiskWait::default())
            .files
            .into_iter()
            .map(|f| f.rel_path)
            .collect();
        assert_eq!(walked, ["kernel/sched.c"]);
    }

    #[test]
    fn walking_paths_finds_what_the_whole_walk_finds_there() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "kernel/sched.c", b"int x;\n");
        write(root, "kernel/sched.o", b"\x7fELF");
        write(root, "kernel/build/out.c", b"int y;\n");
        write(root, "kernel/.hidden.c", b"int z;\n");
        write(root, "lib/sort.c", b"int s;\n");
        write(root, "lib/sub/list.c", b"int l;\n");
        write(root, "node_modules/x/index.js", b"var x;\n");
        write(root, ".gitignore", b"*.o\nbuild/\n/*\n");
        write(root, ".scryignore", b"!/*\n");
        let all: Vec<String> = walk(root, &Excludes::default(), &DiskWait::default())
            .files
            .into_iter()
            .map(|f| f.rel_path)
            .collect();
        assert_eq!(all, ["kernel/sched.c", "lib/sort.c", "lib/sub/list.c"]);
        let paths = [
            "kernel/sched.c",
            "kernel/sched.o",
            "kernel/build/out.c",
            "kernel/.hidden.c",
            "lib",
            "gone.c",
            "node_modules/x/index.js",
        ]
        .map(|p| root.join(p));
        let (report, scope) =
            walk_paths(root, &Excludes::default(), &paths, &DiskWait::default()).unwrap();
        let found: Vec<&str> = report.files.iter().map(|f| f.rel_path.as_str()).collect();
        assert_eq!(found, all);
        assert_eq!(scope.len(), paths.len());
        assert!(
            walk_paths(
                root,
                &Excludes::default(),
                &[root.to_path_buf()],
                &DiskWait::default()
            )
            .is_none()
        );
        assert!(
            walk_paths(
                root,
                &Excludes::default(),
                &[PathBuf::from("/elsewhere/x.c")],
                &DiskWait::default()
            )
            .is_none()
        );
    }

    #[test]
    fn says_which_rule_ignores_everything_and_how_to_undo_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "kernel/sched.c", b"int main(void) { return 0; }\n");
        write(root, "kernel/sched.o", b"\x7fELF");
        write(root, ".gitignore", b"*.o\n/*\n!.gitignore\n");
        let report = walk(root, &Excludes::default(), &DiskWait::default());
        assert!(report.files.is_empty());
        let note = report.all_ignored.expect("explained");
        assert!(note.contains("`/*`"), "{note}");
        assert!(note.contains(".gitignore"), "{note}");
        assert!(note.contains("kernel/sched.c"), "{note}");
        // Following the advice indexes the code, and only the code.
        write(root, ".scryignore", b"!/*\n");
        let report = walk(root, &Excludes::default(), &DiskWait::default());
        let paths: Vec<&str> = report.files.iter().map(|f| f.rel_path.as_str()).collect();
        assert_eq!(paths, ["kernel/sched.c"]);
        assert!(report.all_ignored.is_none());
        // An empty tree needs no explanation.
        let empty = tempfile::tempdir().unwrap();
        assert!(
            walk(empty.path(), &Excludes::default(), &DiskWait::default())
                .all_ignored
                .is_none()
        );
    }
}
