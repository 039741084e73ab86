//! Cutting a file into chunks: definitions by tree-sitter where Scry has the grammar,
//! paragraphs and line windows elsewhere.
//!
//! A chunk is what search returns, so its size is set by what a reader wants to land on: one
//! function or method, a class's header without its methods, a run of top-level statements.

use tree_sitter::{Node, Parser, Point, Range, Tree};

use crate::lang::{ChunkKind, Language};

/// A definition longer than this is split at its children's boundaries.
const MAX_LINES: usize = 150;
const MAX_BYTES: usize = 12_000;
/// A class this short stays one chunk; a longer one is cut into its members.
const SMALL_CONTAINER_LINES: usize = 25;
/// Code between definitions merges with its neighbours up to this many lines.
const GLUE_LINES: usize = 60;
/// Prose paragraphs merge up to this many lines.
const TEXT_LINES: usize = 40;

/// A piece of a file that search can return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
    /// Byte offsets of `text` in the file.
    pub start_byte: u32,
    pub end_byte: u32,
    /// The name of what the chunk defines, if it defines something.
    pub symbol: Option<String>,
    pub kind: ChunkKind,
    /// The definitions enclosing it, outermost first, joined by `.` (`Outer.Inner`).
    pub scope: Option<String>,
    pub text: String,
}

/// Cuts `text` (the content of a file in `language`) into chunks, in file order.
pub fn chunk(text: &str, language: &'static Language) -> Vec<Chunk> {
    let skip_bodies = language.name == "c";
    or_windows(text, language, || chunk_with(text, language, skip_bodies))
}

/// What `cut` makes of `text`; if it panics, paragraph windows: a grammar's odd tree costs
/// one file its structure, not the whole index. The fuzz build lets the panic through, for
/// the fuzzer to see.
fn or_windows(
    text: &str,
    language: &Language,
    cut: impl FnOnce() -> Vec<Chunk> + std::panic::UnwindSafe,
) -> Vec<Chunk> {
    if cfg!(fuzzing) {
        return cut();
    }
    std::panic::catch_unwind(cut).unwrap_or_else(|_| {
        tracing::warn!(
            "the {} chunker failed on a file; it is cut into windows instead",
            language.name
        );
        chunk_prose(text, &Lines::new(text), false)
    })
}

fn chunk_with(text: &str, language: &'static Language, skip_bodies: bool) -> Vec<Chunk> {
    let lines = Lines::new(text);
    let skipped = match skip_bodies {
        true => c_function_bodies(text),
        false => Vec::new(),
    };
    let Some(tree) = parse(text, language, &included(&lines, &skipped)) else {
        return chunk_prose(text, &lines, language.name == "markdown");
    };
    let mut cutter = TreeCutter {
        src: text,
        lines: &lines,
        language,
        skipped: &skipped,
        out: Vec::new(),
    };
    let root = tree.root_node();
    cutter.block(named_children(root), &mut Vec::new(), None);
    cutter.out
}

/// Parses `text` with the language's grammar, only `ranges` of it when there are any.
fn parse(text: &str, language: &Language, ranges: &[Range]) -> Option<Tree> {
    let mut parser = Parser::new();
    parser.set_language(&(language.grammar?)()).ok()?;
    if parser.set_included_ranges(ranges).is_err() {
        // Ranges are built sorted and apart; should that ever fail, parse the whole text.
        parser.set_included_ranges(&[]).ok()?;
    }
    parser.parse(text, None)
}

/// The ranges of a text around `skipped` byte ranges (sorted, apart), for the parser; none
/// (the whole text) when nothing is skipped.
fn included(lines: &Lines, skipped: &[(usize, usize)]) -> Vec<Range> {
    if skipped.is_empty() {
        return Vec::new();
    }
    let mut ranges = Vec::with_capacity(skipped.len() + 1);
    let mut start = 0;
    for &(skip_start, skip_end) in skipped {
        ranges.push(Range {
            start_byte: start,
            end_byte: skip_start,
            start_point: lines.point(start),
            end_point: lines.point(skip_start),
        });
        start = skip_end;
    }
    // To the end of any text, as the parser's own default range does.
    let end = u32::MAX as usize;
    ranges.push(Range {
        start_byte: start,
        end_byte: end,
        start_point: lines.point(start),
        end_point: Point::new(end, end),
    });
    ranges
}

/// Function bodies shorter than this are parsed: skipping them saves less than a range costs.
const SKIPPED_BODY_BYTES: usize = 200;

/// The insides of C function bodies, which the parser can skip. Chunks are cut at a
/// function's boundaries; its statements matter only when it is too long for one chunk, and
/// then it is parsed again on its own. Parsing is most of the time it takes to index C, and
/// bodies are most of its text (indexers skip them for the same reason: clang's
/// `-fskip-function-bodies`). A body is a `{` outside any braces right after a `)`, to its
/// matching `}`. Comments, strings, character literals and preprocessor lines are stepped over;
/// a body with a preprocessor line inside is parsed (an `#if` branch can open a brace that
/// its `#else` opens again), and unbalanced braces anywhere skip nothing.
fn c_function_bodies(src: &str) -> Vec<(usize, usize)> {
    let b = src.as_bytes();
    let mut bodies = Vec::new();
    let mut depth = 0usize;
    // The last byte of code (not space, comment or directive), and whether a line has any yet.
    let mut prev = 0u8;
    let mut line_has_code = false;
    // The open body's `{` and whether it is still free of preprocessor lines.
    let mut body: Option<(usize, bool)> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line_has_code = false;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c' => {
                i += 1;
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let Some(end) = src[i + 2..].find("*/") else {
                    return Vec::new();
                };
                i += end + 4;
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = line_end(b, i);
                continue;
            }
            b'#' if !line_has_code => {
                if let Some((_, clean)) = &mut body {
                    *clean = false;
                }
                // A directive runs to a newline that no backslash continues; a block comment
                // in it may cross lines.
                let mut j = i;
                while j < b.len() && b[j] != b'\n' {
                    if b[j..].starts_with(b"/*") {
                        let Some(end) = src[j + 2..].find("*/") else {
                            return Vec::new();
                        };
                        j += end + 4;
                    } else if b[j..].starts_with(b"//") {
                        j = line_end(b, j);
                    } else if b[j] == b'\\' && b.get(j + 1) == Some(&b'\n') {
                        j += 2;
                    } else if b[j..].starts_with(b"\\\r\n") {
                        j += 3;
                    } else {
                        j += 1;
                    }
                }
                i = j;
                continue;
            }
            b'"' | b'\'' => {
                // To the closing quote, or the line's end for a stray one.
                let mut j = i + 1;
                while j < b.len() && b[j] != c && b[j] != b'\n' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                i = j + 1;
                prev = c;
                line_has_code = true;
                continue;
            }
            b'{' => {
                if depth == 0 && prev == b')' {
                    body = Some((i, true));
                }
                depth += 1;
            }
            b'}' => {
                let Some(outer) = depth.checked_sub(1) else {
                    return Vec::new();
                };
                depth = outer;
                if depth == 0
                    && let Some((open, clean)) = body.take()
                    && clean
                    && i - open > SKIPPED_BODY_BYTES
                {
                    bodies.push((open + 1, i));
                }
            }
            _ => {}
        }
        prev = c;
        line_has_code = true;
        i += 1;
    }
    if depth != 0 {
        return Vec::new();
    }
    bodies
}

/// Where the line of byte `i` ends (its newline, or the text's end); a `//` comment ending in
/// a backslash goes on to the next line.
fn line_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        match b[i] {
            b'\n' if !b[..i].ends_with(b"\\") && !b[..i].ends_with(b"\\\r") => return i,
            _ => i += 1,
        }
    }
    i
}

/// Line starts of a text, to turn rows into byte ranges.
struct Lines<'a> {
    src: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(src: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        if starts.last() == Some(&src.len()) && !src.is_empty() {
            starts.pop();
        }
        Lines { src, starts }
    }

    fn count(&self) -> usize {
        self.starts.len()
    }

    /// Byte range of rows `first..=last`, without the final newline. A row past the last line
    /// (where a parser puts a node it made up at the end of the text, such as a missing `}`)
    /// reads as the last line.
    fn bytes(&self, first: usize, last: usize) -> (usize, usize) {
        let top = self.starts.len() - 1;
        let (first, last) = (first.min(top), last.min(top));
        let start = self.starts[first];
        let end = self
            .starts
            .get(last + 1)
            .map_or(self.src.len(), |&next| next - 1);
        (start, end.max(start))
    }

    /// The row and column of byte `i`, as the parser counts them.
    fn point(&self, i: usize) -> Point {
        let row = self.starts.partition_point(|&start| start <= i) - 1;
        Point::new(row, i - self.starts[row])
    }

    fn is_blank(&self, row: usize) -> bool {
        let (start, end) = self.bytes(row, row);
        self.src[start..end].trim().is_empty()
    }

    fn make(
        &self,
        rows: Rows,
        symbol: Option<String>,
        kind: ChunkKind,
        scope: Option<String>,
    ) -> Option<Chunk> {
        if rows.first >= self.count() {
            return None;
        }
        let rows = Rows {
            first: rows.first,
            last: rows.last.min(self.count() - 1),
        };
        let (start, end) = self.bytes(rows.first, rows.last);
        let text = &self.src[start..end];
        if text.bytes().filter(|b| !b.is_ascii_whitespace()).count() < 4 {
            return None;
        }
        Some(Chunk {
            start_line: rows.first as u32 + 1,
            end_line: rows.last as u32 + 1,
            start_byte: start as u32,
            end_byte: end as u32,
            symbol,
            kind,
            scope,
            text: text.to_string(),
        })
    }
}

/// Rows `first..=last`, 0-based.
#[derive(Clone, Copy, Debug)]
struct Rows {
    first: usize,
    last: usize,
}

impl Rows {
    fn of(node: Node) -> Self {
        let end = node.end_position();
        let last = if end.column == 0 && end.row > node.start_position().row {
            end.row - 1
        } else {
            end.row
        };
        Rows {
            first: node.start_position().row,
            last,
        }
    }

    fn len(self) -> usize {
        self.last + 1 - self.first
    }
}

/// Code between definitions, growing until a definition or the size limit ends it.
struct Glue {
    rows: Rows,
    /// Set for a container's header (`class Foo(Base):` and its fields).
    symbol: Option<String>,
    kind: ChunkKind,
}

/// A definition found in the tree.
struct Definition<'t> {
    /// The node that carries the name and body; `outer` may wrap it (decorators, `export`).
    inner: Node<'t>,
    outer: Node<'t>,
    kind: ChunkKind,
    container: bool,
    name: Option<String>,
}

struct TreeCutter<'a> {
    src: &'a str,
    lines: &'a Lines<'a>,
    language: &'static Language,
    /// Byte ranges the parser skipped (function bodies), sorted.
    skipped: &'a [(usize, usize)],
    out: Vec<Chunk>,
}

impl<'a> TreeCutter<'a> {
    fn text(&self, node: Node) -> &'a str {
        &self.src[node.start_byte()..node.end_byte()]
    }

    fn scope_name(scope: &[String]) -> Option<String> {
        (!scope.is_empty()).then(|| scope.join("."))
    }

    /// Chunks a sequence of sibling nodes: a file, or a container's body.
    fn block<'t>(&mut self, nodes: Vec<Node<'t>>, scope: &mut Vec<String>, header: Option<Glue>) {
        let mut glue = header;
        let mut comments: Vec<Node<'t>> = Vec::new();
        for node in nodes {
            if self.language.comments.contains(&node.kind()) {
                comments.push(node);
                continue;
            }
            if let Some(def) = self.definition(node) {
                // Comments right above a definition document it: they travel with it.
                let mut first_attached = comments.len();
                let mut next_row = node.start_position().row;
                while first_attached > 0
                    && Rows::of(comments[first_attached - 1]).last + 1 >= next_row
                {
                    first_attached -= 1;
                    next_row = comments[first_attached].start_position().row;
                }
                for &comment in &comments[..first_attached] {
                    self.extend_glue(&mut glue, Rows::of(comment), scope);
                }
                let start_row = comments.get(first_attached).map(|c| c.start_position().row);
                comments.clear();
                self.flush(&mut glue, scope);
                self.definition_chunks(def, start_row, scope);
            } else if let Some(chunks) = self.macro_items(node, scope) {
                for comment in comments.drain(..) {
                    self.extend_glue(&mut glue, Rows::of(comment), scope);
                }
                self.flush(&mut glue, scope);
                self.out.extend(chunks);
            } else if self.holds_definition(node, 0) {
                for comment in comments.drain(..) {
                    self.extend_glue(&mut glue, Rows::of(comment), scope);
                }
                self.flush(&mut glue, scope);
                self.block(named_children(node), scope, None);
            } else {
                for comment in comments.drain(..) {
                    self.extend_glue(&mut glue, Rows::of(comment), scope);
                }
                self.extend_glue(&mut glue, Rows::of(node), scope);
            }
        }
        for comment in comments {
            self.extend_glue(&mut glue, Rows::of(comment), scope);
        }
        self.flush(&mut glue, scope);
    }

    fn extend_glue(&mut self, glue: &mut Option<Glue>, rows: Rows, scope: &[String]) {
        if let Some(g) = glue {
            if rows.last + 1 - g.rows.first <= GLUE_LINES {
                g.rows.last = g.rows.last.max(rows.last);
                return;
            }
            self.flush(glue, scope);
        }
        *glue = Some(Glue {
            rows,
            symbol: None,
            kind: ChunkKind::Block,
        });
    }

    fn flush(&mut self, glue: &mut Option<Glue>, scope: &[String]) {
        let Some(g) = glue.take() else { return };
        let scope_name = Self::scope_name(scope);
        if g.symbol.is_some() {
            // A header's scope is the container's parent: the container is its symbol.
            let parent = Self::scope_name(&scope[..scope.len().saturating_sub(1)]);
            self.push_split(g.rows, &[], g.symbol, g.kind, parent);
        } else {
            self.push_split(g.rows, &[], None, g.kind, scope_name);
        }
    }

    /// Emits `rows` as one chunk, or as several cut at `cuts` (rows where a child starts) when
    /// it is too long.
    fn push_split(
        &mut self,
        rows: Rows,
        cuts: &[usize],
        symbol: Option<String>,
        kind: ChunkKind,
        scope: Option<String>,
    ) {
        let (start, end) = self.lines.bytes(rows.first, rows.last);
        if rows.len() <= MAX_LINES && end - start <= MAX_BYTES {
            self.out.extend(self.lines.make(rows, symbol, kind, scope));
            return;
        }
        let mut first = rows.first;
        while first <= rows.last {
            let hard_last = (first + MAX_LINES - 1).min(rows.last);
            let mut last = hard_last;
            if hard_last < rows.last {
                // The latest child boundary that keeps the piece under the limit, else a blank line.
                let boundary = cuts
                    .iter()
                    .rev()
                    .find(|&&c| c > first + MAX_LINES / 3 && c <= hard_last + 1);
                last = match boundary {
                    Some(&c) => c - 1,
                    None => (first + MAX_LINES / 2..=hard_last)
                        .rev()
                        .find(|&r| self.lines.is_blank(r))
                        .unwrap_or(hard_last),
                };
            }
            // Bytes can overflow before lines do (long lines): halve until it fits.
            while last > first && {
                let (s, e) = self.lines.bytes(first, last);
                e - s > MAX_BYTES
            } {
                last = first + (last - first) / 2;
            }
            self.out.extend(self.lines.make(
                Rows { first, last },
                symbol.clone(),
                kind,
                scope.clone(),
            ));
            first = last + 1;
        }
    }

    fn definition_chunks(
        &mut self,
        def: Definition,
        start_row: Option<usize>,
        scope: &mut Vec<String>,
    ) {
        let mut rows = Rows::of(def.outer);
        if let Some(row) = start_row {
            rows.first = rows.first.min(row);
        }
        let kind = match def.kind {
            ChunkKind::Function if !scope.is_empty() => ChunkKind::Method,
            kind => kind,
        };
        let symbol = def.name.clone();
        if def.container && rows.len() > SMALL_CONTAINER_LINES {
            let members = self.members(def.inner);
            if let Some(first) = members.first().filter(|_| {
                members
                    .iter()
                    .any(|&m| self.holds_definition(m, 0) || self.definition(m).is_some())
            }) {
                let header_last = first.start_position().row.saturating_sub(1).max(rows.first);
                let header = Glue {
                    rows: Rows {
                        first: rows.first,
                        last: header_last,
                    },
                    symbol: symbol.clone(),
                    kind,
                };
                scope.push(symbol.unwrap_or_else(|| "<anonymous>".into()));
                self.block(members, scope, Some(header));
                scope.pop();
                return;
            }
        }
        let cuts = self.child_rows(def.inner, rows);
        self.push_split(rows, &cuts, symbol, kind, Self::scope_name(scope));
    }

    /// Rows where the members or statements of a definition start: where `push_split` may cut
    /// it, when `rows` are too long for one chunk. A body the parser skipped is parsed now.
    fn child_rows(&self, node: Node, rows: Rows) -> Vec<usize> {
        let rows_of = |nodes: Vec<Node>| nodes.iter().map(|n| n.start_position().row).collect();
        let (start, end) = self.lines.bytes(rows.first, rows.last);
        let fits = rows.len() <= MAX_LINES && end - start <= MAX_BYTES;
        let range = node.byte_range();
        let skipped = self
            .skipped
            .iter()
            .any(|&(s, e)| range.start <= s && e <= range.end);
        if fits || !skipped {
            return rows_of(self.members(node));
        }
        let Some(tree) = parse(self.src, self.language, &[node.range()]) else {
            return Vec::new();
        };
        match tree
            .root_node()
            .named_descendant_for_byte_range(range.start, range.end)
        {
            Some(whole) if whole.kind() == node.kind() => rows_of(self.members(whole)),
            _ => Vec::new(),
        }
    }

    /// Rust code often wraps items in macros (`cfg_if! { … }`, tokio's `cfg_net! { … }`), which
    /// tree-sitter leaves as opaque token trees: the body's whole lines are parsed as items.
    fn macro_items(&self, node: Node, scope: &[String]) -> Option<Vec<Chunk>> {
        if self.language.name != "rust" || node.kind() != "macro_invocation" {
            return None;
        }
        let body = named_children(node)
            .into_iter()
            .rfind(|c| c.kind() == "token_tree")?;
        let rows = Rows::of(body);
        if rows.len() < 4 {
            return None;
        }
        let (first, last) = (rows.first + 1, rows.last - 1);
        let (start, end) = self.lines.bytes(first, last);
        let inner = &self.src[start..end];
        if !inner.contains("fn ") {
            return None;
        }
        let mut chunks = chunk(inner, self.language);
        if !chunks.iter().any(|c| c.kind.is_definition()) {
            return None;
        }
        for c in &mut chunks {
            c.start_line += first as u32;
            c.end_line += first as u32;
            c.start_byte += start as u32;
            c.end_byte += start as u32;
            if let Some(outer) = Self::scope_name(scope) {
                c.scope = Some(match c.scope.take() {
                    Some(inner_scope) => format!("{outer}.{inner_scope}"),
                    None => outer,
                });
            }
        }
        Some(chunks)
    }

    /// The nodes inside a definition's body, where its members or statements are.
    fn members<'t>(&self, node: Node<'t>) -> Vec<Node<'t>> {
        if let Some(body) = node.child_by_field_name("body") {
            let children = named_children(body);
            // Some bodies wrap their statements once more (Ruby's `body_statement`, C++'s `{}`).
            if children.len() == 1
                && self.definition(children[0]).is_none()
                && children[0].named_child_count() > 1
            {
                return named_children(children[0]);
            }
            return children;
        }
        let name = node.child_by_field_name("name").map(|n| n.id());
        named_children(node)
            .into_iter()
            .filter(|n| Some(n.id()) != name)
            .collect()
    }

    /// Whether a non-definition node (an `if` at module level, `#ifdef`, `namespace {}`) has
    /// definitions inside that deserve chunks of their own.
    fn holds_definition(&self, node: Node, depth: usize) -> bool {
        if depth > 4 || node.named_child_count() == 0 {
            return false;
        }
        named_children(node).into_iter().any(|child| {
            self.definition(child).is_some() || self.holds_definition(child, depth + 1)
        })
    }

    fn definition<'t>(&self, node: Node<'t>) -> Option<Definition<'t>> {
        if self.language.wrappers.contains(&node.kind()) {
            let inner = ["definition", "declaration"]
                .iter()
                .find_map(|f| node.child_by_field_name(f))
                .or_else(|| {
                    named_children(node)
                        .into_iter()
                        .find(|c| self.language.rule(c.kind()).is_some())
                })?;
            let mut def = self.definition(inner)?;
            def.outer = node;
            return Some(def);
        }
        let rule = self.language.rule(node.kind())?;
        let (mut kind, mut container) = (rule.kind, rule.container);
        let name = match (self.language.name, node.kind()) {
            ("elixir", "call") => {
                let (name, k, holds) = self.elixir_definition(node)?;
                (kind, container) = (k, holds);
                name
            }
            ("r", "binary_operator") => {
                // Only `name <- function(…)` defines something.
                let operator = self.text(node.child_by_field_name("operator")?);
                let value = node.child_by_field_name("rhs")?;
                if !matches!(operator, "<-" | "<<-" | "=") || value.kind() != "function_definition"
                {
                    return None;
                }
                Some(self.text(node.child_by_field_name("lhs")?).to_string())
            }
            ("zig", "variable_declaration") => {
                // Only `const Name = struct { … }` and its kin define a type.
                named_children(node).into_iter().find(|c| {
                    matches!(
                        c.kind(),
                        "struct_declaration"
                            | "enum_declaration"
                            | "union_declaration"
                            | "opaque_declaration"
                            | "error_set_declaration"
                    )
                })?;
                self.first_identifier(node, 1)
            }
            ("zig", "test_declaration") => named_children(node)
                .into_iter()
                .find(|c| matches!(c.kind(), "string" | "identifier"))
                .map(|n| self.text(n).trim_matches('"').to_string()),
            (_, "lexical_declaration" | "variable_declaration") => {
                // Only `const f = () => …` and its kin define something.
                let declarator = named_children(node)
                    .into_iter()
                    .find(|c| c.kind() == "variable_declarator")?;
                let value = declarator.child_by_field_name("value")?;
                if !matches!(
                    value.kind(),
                    "arrow_function"
                        | "function_expression"
                        | "function"
                        | "generator_function"
                        | "class"
                ) {
                    return None;
                }
                declarator
                    .child_by_field_name("name")
                    .map(|n| self.text(n).to_string())
            }
            (_, "struct_specifier" | "union_specifier" | "enum_specifier" | "class_specifier") => {
                // `struct foo *p` names a type; only a body defines one.
                node.child_by_field_name("body")?;
                node.child_by_field_name("name")
                    .map(|n| self.text(n).to_string())
            }
            _ => self.name(node),
        };
        Some(Definition {
            inner: node,
            outer: node,
            kind,
            container,
            name,
        })
    }

    /// An Elixir call that defines something (`def`, `defmodule`…): its name, kind and
    /// whether it holds further definitions. `None` for every other call.
    fn elixir_definition(&self, node: Node) -> Option<(Option<String>, ChunkKind, bool)> {
        let (kind, holds) = match self.text(node.child_by_field_name("target")?) {
            "def" | "defp" | "defdelegate" | "defguard" | "defguardp" => {
                (ChunkKind::Function, false)
            }
            "defmacro" | "defmacrop" => (ChunkKind::Macro, false),
            "defmodule" => (ChunkKind::Module, true),
            "defprotocol" => (ChunkKind::Interface, true),
            "defimpl" => (ChunkKind::Impl, true),
            "defstruct" | "defexception" => (ChunkKind::Struct, false),
            _ => return None,
        };
        let arguments = named_children(node)
            .into_iter()
            .find(|c| c.kind() == "arguments");
        // `def name(args)`, `def name(args) when guard`, `defmodule Name`.
        let mut head = arguments.and_then(|a| a.named_child(0));
        for _ in 0..3 {
            match head {
                Some(h) if matches!(h.kind(), "call") => {
                    head = h.child_by_field_name("target");
                }
                Some(h) if h.kind() == "binary_operator" => {
                    head = h.child_by_field_name("left");
                }
                _ => break,
            }
        }
        let name = head
            .filter(|h| matches!(h.kind(), "identifier" | "alias" | "atom"))
            .map(|h| self.text(h).to_string());
        Some((name, kind, holds))
    }

    /// The first identifier-like node among `node`'s named descendants, breadth first, down
    /// to `depth` levels: where grammars without a `name` field keep a definition's name.
    fn first_identifier(&self, node: Node, depth: usize) -> Option<String> {
        const NAMES: &[&str] = &[
            "identifier",
            "simple_identifier",
            "type_identifier",
            "value_name",
            "module_name",
            "type_constructor",
            "class_name",
            "tag_name",
            "variable",
        ];
        let mut level = vec![node];
        for _ in 0..=depth {
            let children: Vec<Node> = level.iter().flat_map(|n| named_children(*n)).collect();
            if let Some(found) = children.iter().find(|c| NAMES.contains(&c.kind())) {
                return Some(self.text(*found).to_string());
            }
            level = children;
        }
        None
    }

    fn name(&self, node: Node) -> Option<String> {
        if node.kind() == "impl_item" {
            let ty = self.text(node.child_by_field_name("type")?);
            return Some(match node.child_by_field_name("trait") {
                Some(tr) => format!("{} for {ty}", self.text(tr)),
                None => ty.to_string(),
            });
        }
        if let Some(name) = node.child_by_field_name("name") {
            return Some(self.text(name).to_string());
        }
        if node.kind() == "type_declaration" {
            let spec = named_children(node)
                .into_iter()
                .find(|c| c.kind().ends_with("_spec"))?;
            return spec
                .child_by_field_name("name")
                .map(|n| self.text(n).to_string());
        }
        if node.kind() == "rule_set" {
            let selectors = named_children(node)
                .into_iter()
                .find(|c| c.kind() == "selectors")?;
            return Some(self.text(selectors).lines().next()?.trim().to_string());
        }
        // C and C++ bury the name in declarators: `static int *(*f)(void)`.
        let Some(mut current) = node.child_by_field_name("declarator") else {
            // Grammars without name fields keep it a level or two down.
            return match self.language.name {
                "julia" | "ocaml" | "html" | "kotlin" | "swift" | "haskell" => {
                    self.first_identifier(node, 2)
                }
                _ => None,
            };
        };
        for _ in 0..8 {
            match current.kind() {
                "identifier"
                | "field_identifier"
                | "type_identifier"
                | "qualified_identifier"
                | "operator_name"
                | "destructor_name" => return Some(self.text(current).to_string()),
                _ => {
                    current = current
                        .child_by_field_name("declarator")
                        .or_else(|| current.named_child(0))?
                }
            }
        }
        None
    }
}

fn named_children(node: Node) -> Vec<Node> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).collect()
}

/// Chunks text without a grammar: paragraphs merged up to a window, Markdown by headings.
fn chunk_prose(src: &str, lines: &Lines, markdown: bool) -> Vec<Chunk> {
    let mut out = Vec::new();
    let heading = |row: usize| -> Option<String> {
        let (s, e) = lines.bytes(row, row);
        let line = &src[s..e];
        let title = line.strip_prefix('#')?.trim_start_matches('#');
        title.starts_with(' ').then(|| title.trim().to_string())
    };
    let mut current: Option<(Rows, Option<String>)> = None;
    let mut row = 0;
    let emit = |chunk: Option<(Rows, Option<String>)>, out: &mut Vec<Chunk>| {
        if let Some((rows, symbol)) = chunk {
            let kind = if symbol.is_some() {
                ChunkKind::Section
            } else {
                ChunkKind::Block
            };
            out.extend(lines.make(rows, symbol, kind, None));
        }
    };
    while row < lines.count() {
        if lines.is_blank(row) {
            row += 1;
            continue;
        }
        // One paragraph: up to the next blank line, a heading, or the window's size.
        let first = row;
        let title = if markdown { heading(row) } else { None };
        row += 1;
        while row < lines.count()
            && !lines.is_blank(row)
            && row - first < TEXT_LINES
            && !(markdown && heading(row).is_some())
        {
            row += 1;
        }
        let para = Rows {
            first,
            last: row - 1,
        };
        match &mut current {
            Some((rows, _)) if title.is_none() && para.last + 1 - rows.first <= TEXT_LINES => {
                rows.last = para.last
            }
            _ => {
                emit(current.take(), &mut out);
                current = Some((para, title));
            }
        }
    }
    emit(current, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::by_name;

    fn summary(src: &str, lang: &str) -> Vec<String> {
        chunk(src, by_name(lang).unwrap())
            .iter()
            .map(|c| {
                format!(
                    "{}-{} {} {}{}",
                    c.start_line,
                    c.end_line,
                    c.kind.as_str(),
                    c.scope
                        .as_ref()
                        .map(|s| format!("{s}."))
                        .unwrap_or_default(),
                    c.symbol.as_deref().unwrap_or("-")
                )
            })
            .collect()
    }

    /// Found by the `chunk` fuzz target: in a text that ends with a newline, the parser puts
    /// the `}` it made up on the row after the last line; that row was read past the text.
    #[test]
    fn a_made_up_node_after_the_last_line_stays_inside_the_text() {
        let src = "p\nu{\nclass\n\u{fffd}\n";
        for lang in ["scala", "rust", "kotlin", "java"] {
            for c in chunk(src, by_name(lang).unwrap()) {
                assert!(
                    c.end_line <= 4 && c.end_byte as usize <= src.len(),
                    "{lang}: {c:?}"
                );
            }
        }
    }

    #[test]
    fn a_chunker_that_fails_leaves_the_file_in_windows() {
        let src = "fn a() {\n    1\n}\n\nfn b() {\n    2\n}\n";
        let rust = by_name("rust").unwrap();
        let chunks = or_windows(src, rust, || panic!("a grammar's odd tree"));
        assert_eq!(chunks, chunk_prose(src, &Lines::new(src), false));
        assert!(!chunks.is_empty() && chunks.iter().all(|c| c.kind == ChunkKind::Block));
    }

    #[test]
    fn python_functions_classes_and_glue() {
        let mut src = String::from(
            "import os\nimport sys\n\n@cache\ndef top(a):\n    return a\n\nclass Big(Base):\n    \"\"\"Doc.\"\"\"\n    x = 1\n\n",
        );
        for i in 0..6 {
            src.push_str(&format!(
                "    def m{i}(self):\n        a = {i}\n        b = a\n        return b\n\n"
            ));
        }
        src.push_str("if __name__ == '__main__':\n    def main():\n        pass\n    main()\n");
        assert_eq!(
            summary(&src, "python"),
            [
                "1-2 block -",
                "4-6 function top",
                "8-10 class Big",
                "12-15 method Big.m0",
                "17-20 method Big.m1",
                "22-25 method Big.m2",
                "27-30 method Big.m3",
                "32-35 method Big.m4",
                "37-40 method Big.m5",
                "42-42 block -",
                "43-44 function main",
                "45-45 block -",
            ]
        );
    }

    #[test]
    fn rust_impls_doc_comments_and_line_ranges() {
        let src = "use std::fmt;\n\n/// Retries an upload.\n/// Twice.\nfn retry_upload() -> bool {\n    true\n}\n\nstruct S;\n\nimpl S {\n    fn a(&self) {}\n}\n";
        let chunks = chunk(src, by_name("rust").unwrap());
        assert_eq!(
            summary(src, "rust"),
            [
                "1-1 block -",
                "3-7 function retry_upload",
                "9-9 struct S",
                "11-13 impl S"
            ]
        );
        let retry = &chunks[1];
        assert_eq!(
            &src[retry.start_byte as usize..retry.end_byte as usize],
            retry.text
        );
        assert!(retry.text.starts_with("/// Retries") && retry.text.ends_with('}'));
    }

    #[test]
    fn names_from_many_grammars() {
        let cases = [
            (
                "c",
                "static int *make_buf(size_t n) {\n  return 0;\n}\n",
                "make_buf",
            ),
            (
                "cpp",
                "template <class T>\nT Vec<T>::get(int i) const {\n  return x;\n}\n",
                "Vec<T>::get",
            ),
            (
                "go",
                "func (s *Server) Serve(l net.Listener) error {\n\treturn nil\n}\n",
                "Serve",
            ),
            (
                "javascript",
                "export const fetchAll = async (url) => {\n  return 1;\n};\n",
                "fetchAll",
            ),
            (
                "typescript",
                "interface Shape {\n  area(): number;\n}\n",
                "Shape",
            ),
            ("java", "class A {\n  void run() {}\n}\n", "A"),
            ("csharp", "class A {\n  void Run() {}\n}\n", "A"),
            ("ruby", "def greet(name)\n  puts name\nend\n", "greet"),
            (
                "php",
                "<?php\nfunction greet($n) {\n  echo $n;\n}\n",
                "greet",
            ),
            ("bash", "deploy() {\n  echo hi\n}\n", "deploy"),
            ("tsx", "function App() {\n  return <div/>;\n}\n", "App"),
        ];
        for (lang, src, name) in cases {
            let chunks = chunk(src, by_name(lang).unwrap());
            assert!(
                chunks.iter().any(|c| c.symbol.as_deref() == Some(name)),
                "{lang}: {:?}",
                summary(src, lang)
            );
        }
    }

    /// Each grammar added for issue 25: its definitions become chunks with their names, and
    /// a container's members their own (under its scope) once it is large.
    #[test]
    fn definitions_in_the_newer_grammars() {
        let body = |open: &str, line: &str, close: &str| {
            format!("{open}\n{}{close}\n", format!("{line}\n").repeat(24))
        };
        let cases: Vec<(&str, String, Vec<&str>)> = vec![
            (
                "kotlin",
                format!(
                    "class Cart(val id: Int) {{\n{}    fun add(item: String) {{\n        items.add(item)\n    }}\n}}\n\nfun checkout(cart: Cart): Boolean {{\n    return true\n}}\n",
                    "    // padding\n".repeat(24)
                ),
                vec!["Cart", "add", "checkout"],
            ),
            (
                "swift",
                format!(
                    "struct Point {{\n{}    func distance(to other: Point) -> Double {{\n        return 0\n    }}\n}}\n\nprotocol Shape {{\n    func area() -> Double\n}}\n",
                    "    var x = 0.0\n".repeat(24)
                ),
                vec!["Point", "distance", "Shape"],
            ),
            (
                "scala",
                format!(
                    "object Parser {{\n{}  def parse(text: String): Int = {{\n    text.length\n  }}\n}}\n\ntrait Shape {{\n  def area: Double\n}}\n",
                    "  val x = 1\n".repeat(24)
                ),
                vec!["Parser", "parse", "Shape"],
            ),
            (
                "haskell",
                "module Main where\n\n-- | Adds.\nadd :: Int -> Int -> Int\nadd a b = a + b\n\ndata Shape = Circle Double | Square Double\n\nclass Area a where\n  area :: a -> Double\n".to_string(),
                vec!["add", "Shape", "Area"],
            ),
            (
                "lua",
                "local M = {}\n\nfunction M.retry(fn, n)\n  return fn()\nend\n\nlocal function helper(x)\n  return x\nend\n".to_string(),
                vec!["M.retry", "helper"],
            ),
            (
                "zig",
                format!(
                    "const std = @import(\"std\");\n\npub const Point = struct {{\n{}    pub fn len(self: Point) f64 {{\n        return self.x;\n    }}\n}};\n\npub fn main() void {{\n    return;\n}}\n\ntest \"adds\" {{\n    try std.testing.expect(true);\n}}\n",
                    "    x: f64 = 0,\n".repeat(24)
                ),
                vec!["Point", "len", "main", "adds"],
            ),
            (
                "julia",
                format!(
                    "module Geo\n\nstruct Point\n    x::Float64\nend\n\nfunction distance(a::Point, b::Point)\n    return abs(a.x - b.x)\nend\n{}\nend\n",
                    "const ORIGIN = 0\n".repeat(24)
                ),
                vec!["Point", "distance"],
            ),
            (
                "r",
                "library(stats)\n\nretry_upload <- function(path, n = 3) {\n  for (i in 1:n) upload(path)\n}\n\nx <- 5\n".to_string(),
                vec!["retry_upload"],
            ),
            (
                "elixir",
                body(
                    "defmodule Shop.Cart do\n  def add(cart, item) do\n    [item | cart]\n  end\n\n  defp total(cart) when is_list(cart) do\n    length(cart)\n  end",
                    "  # padding",
                    "end",
                ),
                vec!["Shop.Cart", "add", "total"],
            ),
            (
                "ocaml",
                "let rec fib n = if n < 2 then n else fib (n - 1) + fib (n - 2)\n\ntype shape = Circle of float | Square of float\n\nmodule Stack = struct\n  let empty = []\nend\n".to_string(),
                vec!["fib", "shape", "Stack"],
            ),
            (
                "css",
                ".button, .link {\n  color: red;\n}\n\n@media (max-width: 600px) {\n  .button { color: blue; }\n}\n".to_string(),
                vec![".button, .link"],
            ),
            (
                "html",
                "<!DOCTYPE html>\n<html>\n<body>\n<p>Hi</p>\n</body>\n</html>\n".to_string(),
                vec!["html"],
            ),
        ];
        let mut missing = Vec::new();
        for (lang, src, names) in cases {
            let language = by_name(lang).unwrap();
            assert!(language.has_grammar(), "{lang}");
            let chunks = chunk(&src, language);
            for name in names {
                if !chunks.iter().any(|c| c.symbol.as_deref() == Some(name)) {
                    missing.push(format!("{lang}: no {name} in {:?}", summary(&src, lang)));
                }
            }
        }
        assert!(missing.is_empty(), "{missing:#?}");
    }

    #[test]
    fn oversized_definitions_split_at_statements() {
        let mut src = String::from("def huge():\n");
        for i in 0..400 {
            src.push_str(&format!("    x{i} = {i}\n"));
        }
        let chunks = chunk(&src, by_name("python").unwrap());
        assert!(chunks.len() >= 3);
        assert!(
            chunks
                .iter()
                .all(|c| (c.end_line - c.start_line + 1) as usize <= MAX_LINES)
        );
        assert!(chunks.iter().all(|c| c.symbol.as_deref() == Some("huge")));
        assert_eq!(chunks.first().unwrap().start_line, 1);
        assert_eq!(chunks.last().unwrap().end_line, 401);
        for pair in chunks.windows(2) {
            assert_eq!(pair[0].end_line + 1, pair[1].start_line);
        }
    }

    #[test]
    fn rust_items_inside_macros() {
        let src = "cfg_net! {\n    /// Binds.\n    pub fn bind(addr: &str) -> u16 {\n        addr.len() as u16\n    }\n\n    impl Socket {\n        fn close(self) {}\n    }\n}\n";
        let chunks = chunk(src, by_name("rust").unwrap());
        assert_eq!(
            summary(src, "rust"),
            ["2-5 function bind", "7-9 impl Socket"]
        );
        assert_eq!(
            &src[chunks[0].start_byte as usize..chunks[0].end_byte as usize],
            chunks[0].text
        );
    }

    #[test]
    fn markdown_by_headings_and_paragraphs() {
        let src = "# Title\n\nIntro para.\n\n## Install\n\nRun it.\n";
        assert_eq!(
            summary(src, "markdown"),
            ["1-3 section Title", "5-7 section Install"]
        );
    }

    #[test]
    fn c_header_guards_do_not_swallow_functions() {
        let src = "#ifndef A_H\n#define A_H\nint f(void) {\n  return 1;\n}\nint g(void) {\n  return 2;\n}\n#endif\n";
        let names: Vec<_> = chunk(src, by_name("c").unwrap())
            .into_iter()
            .filter_map(|c| c.symbol)
            .collect();
        assert_eq!(names, ["f", "g"]);
    }

    /// A C file with what trips a brace scanner: braces in strings, characters and comments,
    /// a directive inside a body, functions under `#ifdef`, a struct, a macro, and a function
    /// too long for one chunk.
    fn tricky_c() -> String {
        let long_body: String = (0..40)
            .map(|i| format!("\tif (x == {i}) {{\n\t\ty += {i};\n\t\tz = y * 2;\n\t}}\n"))
            .collect();
        format!(
            "#include <stdio.h>\n#define OPEN '{{' /* {{ */\n\
             struct point {{\n\tint x, y;\n}};\n\n\
             /* Says hello, even with braces in its strings. */\n\
             static int greet(const char *who)\n{{\n\tchar c = '}}';\n\tprintf(\"{{%s}}\\n\", who); // }}\n\
             \tprintf(\"a longer line so that this body is worth skipping: %c\\n\", c);\n\
             \tprintf(\"and another one, to pass the threshold of two hundred bytes\\n\");\n\treturn 0;\n}}\n\n\
             #ifdef CONFIG_FOO\nint foo(void)\n{{\n#ifdef DEBUG\n\tprintf(\"in foo, where the body has a directive\\n\");\n#endif\n\
             \tprintf(\"and is long enough to skip otherwise: the threshold is two hundred bytes\\n\");\n\treturn 0;\n}}\n#endif\n\n\
             int long_one(int x)\n{{\n\tint y = 0, z = 0;\n{long_body}\treturn y + z;\n}}\n"
        )
    }

    #[test]
    fn c_function_bodies_are_found_past_strings_comments_and_directives() {
        let src = tricky_c();
        let bodies: Vec<&str> = c_function_bodies(&src)
            .into_iter()
            .map(|(s, e)| &src[s..e])
            .collect();
        assert_eq!(bodies.len(), 2, "greet and long_one; foo has an #if inside");
        assert!(bodies[0].starts_with("\n\tchar c = '}';") && bodies[0].ends_with("return 0;\n"));
        assert!(bodies[1].ends_with("return y + z;\n"));
        assert!(c_function_bodies("int f(void)\n{\n\treturn 0;\n").is_empty());
        assert!(c_function_bodies("int f(void) { } }").is_empty());
        let branches = "int f(void)\n{\n#if A\n\tif (a) {\n#else\n\tif (b) {\n#endif\n\t}\n}\n";
        assert!(c_function_bodies(branches).is_empty());
        assert!(c_function_bodies("/* never closed { ").is_empty());
    }

    #[test]
    fn c_files_cut_anywhere_chunk_without_panics() {
        // Unterminated comments, strings and bodies: an editor's buffer mid-typing.
        let src = tricky_c();
        let c = by_name("c").unwrap();
        for end in (0..src.len()).step_by(7) {
            let text = &src[..end];
            let bodies = c_function_bodies(text);
            assert!(bodies.windows(2).all(|w| w[0].1 < w[1].0));
            assert!(bodies.iter().all(|&(s, e)| s < e && e < text.len()));
            for chunk in chunk(text, c) {
                assert_eq!(
                    &text[chunk.start_byte as usize..chunk.end_byte as usize],
                    chunk.text
                );
            }
        }
    }

    #[test]
    fn c_chunks_are_the_same_with_bodies_skipped() {
        let src = tricky_c();
        let c = by_name("c").unwrap();
        let skipped = chunk_with(&src, c, true);
        assert_eq!(skipped, chunk_with(&src, c, false));
        let names: Vec<_> = skipped.iter().filter_map(|c| c.symbol.as_deref()).collect();
        assert_eq!(
            names,
            ["point", "greet", "foo", "long_one", "long_one"],
            "the long function is cut at its statements, parsed again"
        );
        assert!(
            skipped
                .iter()
                .all(|c| c.end_line - c.start_line < MAX_LINES as u32)
        );
    }

    #[test]
    fn empty_and_odd_input() {
        assert!(chunk("", by_name("python").unwrap()).is_empty());
        assert!(chunk("\n\n\n", by_name("rust").unwrap()).is_empty());
        // Broken code still yields chunks: tree-sitter recovers.
        assert!(
            !chunk(
                "def f(:\n    return ((\n\ndef g():\n    pass\n",
                by_name("python").unwrap()
            )
            .is_empty()
        );
    }
}
