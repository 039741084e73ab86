//! Which language a file is written in, and what its definitions look like to tree-sitter.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// What a chunk holds, in words an editor can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChunkKind {
    Function,
    Method,
    Class,
    Struct,
    Enum,
    Interface,
    Impl,
    Module,
    Type,
    Macro,
    /// A heading's section of a prose file.
    Section,
    /// Code between definitions (imports, statements) or a window of an unparsed file.
    Block,
}

impl ChunkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkKind::Function => "function",
            ChunkKind::Method => "method",
            ChunkKind::Class => "class",
            ChunkKind::Struct => "struct",
            ChunkKind::Enum => "enum",
            ChunkKind::Interface => "interface",
            ChunkKind::Impl => "impl",
            ChunkKind::Module => "module",
            ChunkKind::Type => "type",
            ChunkKind::Macro => "macro",
            ChunkKind::Section => "section",
            ChunkKind::Block => "block",
        }
    }

    /// Definitions rank above glue code: a user asking "where do we X" wants the function.
    pub fn is_definition(self) -> bool {
        !matches!(self, ChunkKind::Block | ChunkKind::Section)
    }
}

/// A tree-sitter node kind that starts a definition.
pub(crate) struct DefRule {
    pub node: &'static str,
    pub kind: ChunkKind,
    /// Its body holds further definitions (methods of a class, items of an impl) that
    /// become chunks of their own.
    pub container: bool,
}

const fn def(node: &'static str, kind: ChunkKind) -> DefRule {
    DefRule {
        node,
        kind,
        container: false,
    }
}

const fn container(node: &'static str, kind: ChunkKind) -> DefRule {
    DefRule {
        node,
        kind,
        container: true,
    }
}

/// A language Scry knows. Those with a grammar are chunked by definitions; the others by
/// paragraphs and line windows.
pub struct Language {
    /// The name used in results and by `--lang`.
    pub name: &'static str,
    pub(crate) grammar: Option<fn() -> tree_sitter::Language>,
    pub(crate) defs: &'static [DefRule],
    /// Nodes that wrap a definition (decorators, `export`, `template<>`): the chunk takes the
    /// wrapper's range and the inner definition's name and kind.
    pub(crate) wrappers: &'static [&'static str],
    /// Node kinds that are comments, attached to the definition that follows them.
    pub(crate) comments: &'static [&'static str],
    /// Words of the language that shape code rather than name things (for similar-code).
    pub keywords: &'static [&'static str],
}

impl std::fmt::Debug for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Language {
    pub fn has_grammar(&self) -> bool {
        self.grammar.is_some()
    }

    pub(crate) fn rule(&self, node_kind: &str) -> Option<&DefRule> {
        self.defs.iter().find(|r| r.node == node_kind)
    }
}

fn ts_rust() -> tree_sitter::Language {
    tree_sitter_rust::LANGUAGE.into()
}
fn ts_python() -> tree_sitter::Language {
    tree_sitter_python::LANGUAGE.into()
}
fn ts_javascript() -> tree_sitter::Language {
    tree_sitter_javascript::LANGUAGE.into()
}
fn ts_typescript() -> tree_sitter::Language {
    tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into()
}
fn ts_tsx() -> tree_sitter::Language {
    tree_sitter_typescript::LANGUAGE_TSX.into()
}
fn ts_go() -> tree_sitter::Language {
    tree_sitter_go::LANGUAGE.into()
}
fn ts_java() -> tree_sitter::Language {
    tree_sitter_java::LANGUAGE.into()
}
fn ts_c() -> tree_sitter::Language {
    tree_sitter_c::LANGUAGE.into()
}
fn ts_cpp() -> tree_sitter::Language {
    tree_sitter_cpp::LANGUAGE.into()
}
fn ts_csharp() -> tree_sitter::Language {
    tree_sitter_c_sharp::LANGUAGE.into()
}
fn ts_ruby() -> tree_sitter::Language {
    tree_sitter_ruby::LANGUAGE.into()
}
fn ts_php() -> tree_sitter::Language {
    tree_sitter_php::LANGUAGE_PHP.into()
}
fn ts_bash() -> tree_sitter::Language {
    tree_sitter_bash::LANGUAGE.into()
}
fn ts_kotlin() -> tree_sitter::Language {
    tree_sitter_kotlin_ng::LANGUAGE.into()
}
fn ts_swift() -> tree_sitter::Language {
    tree_sitter_swift::LANGUAGE.into()
}
fn ts_scala() -> tree_sitter::Language {
    tree_sitter_scala::LANGUAGE.into()
}
fn ts_haskell() -> tree_sitter::Language {
    tree_sitter_haskell::LANGUAGE.into()
}
fn ts_lua() -> tree_sitter::Language {
    tree_sitter_lua::LANGUAGE.into()
}
fn ts_zig() -> tree_sitter::Language {
    tree_sitter_zig::LANGUAGE.into()
}
fn ts_julia() -> tree_sitter::Language {
    tree_sitter_julia::LANGUAGE.into()
}
fn ts_r() -> tree_sitter::Language {
    tree_sitter_r::LANGUAGE.into()
}
fn ts_elixir() -> tree_sitter::Language {
    tree_sitter_elixir::LANGUAGE.into()
}
fn ts_ocaml() -> tree_sitter::Language {
    tree_sitter_ocaml::LANGUAGE_OCAML.into()
}
fn ts_html() -> tree_sitter::Language {
    tree_sitter_html::LANGUAGE.into()
}
fn ts_css() -> tree_sitter::Language {
    tree_sitter_css::LANGUAGE.into()
}

use ChunkKind as K;

const C_LIKE_KEYWORDS: &[&str] = &[
    "if",
    "else",
    "for",
    "while",
    "do",
    "switch",
    "case",
    "default",
    "break",
    "continue",
    "return",
    "goto",
    "struct",
    "union",
    "enum",
    "typedef",
    "static",
    "const",
    "void",
    "int",
    "char",
    "long",
    "short",
    "unsigned",
    "signed",
    "float",
    "double",
    "sizeof",
    "extern",
    "class",
    "public",
    "private",
    "protected",
    "virtual",
    "template",
    "typename",
    "namespace",
    "new",
    "delete",
    "this",
    "try",
    "catch",
    "throw",
    "true",
    "false",
    "null",
    "nullptr",
    "bool",
    "auto",
    "using",
    "final",
    "override",
    "interface",
    "extends",
    "implements",
    "import",
    "package",
    "throws",
    "var",
    "let",
    "function",
    "async",
    "await",
    "yield",
    "export",
    "from",
    "of",
    "in",
    "instanceof",
    "typeof",
    "undefined",
    "super",
    "string",
    "object",
    "boolean",
    "number",
    "foreach",
    "as",
    "is",
    "base",
    "out",
    "ref",
    "readonly",
    "func",
    "go",
    "defer",
    "chan",
    "select",
    "range",
    "map",
    "type",
    "nil",
    "fallthrough",
];

pub(crate) static LANGUAGES: &[Language] = &[
    Language {
        name: "rust",
        grammar: Some(ts_rust),
        defs: &[
            def("function_item", K::Function),
            def("function_signature_item", K::Function),
            container("impl_item", K::Impl),
            container("trait_item", K::Interface),
            container("mod_item", K::Module),
            def("struct_item", K::Struct),
            def("enum_item", K::Enum),
            def("union_item", K::Struct),
            def("type_item", K::Type),
            def("macro_definition", K::Macro),
        ],
        wrappers: &[],
        comments: &["line_comment", "block_comment", "attribute_item"],
        keywords: &[
            "fn", "let", "mut", "if", "else", "match", "for", "while", "loop", "in", "return",
            "break", "continue", "impl", "trait", "struct", "enum", "pub", "use", "mod", "self",
            "Self", "super", "crate", "as", "ref", "move", "const", "static", "where", "type",
            "unsafe", "async", "await", "dyn", "true", "false", "Some", "None", "Ok", "Err",
        ],
    },
    Language {
        name: "python",
        grammar: Some(ts_python),
        defs: &[
            def("function_definition", K::Function),
            container("class_definition", K::Class),
        ],
        wrappers: &["decorated_definition"],
        comments: &["comment"],
        keywords: &[
            "def",
            "class",
            "return",
            "if",
            "elif",
            "else",
            "for",
            "while",
            "in",
            "not",
            "and",
            "or",
            "is",
            "None",
            "True",
            "False",
            "try",
            "except",
            "finally",
            "raise",
            "with",
            "as",
            "import",
            "from",
            "pass",
            "break",
            "continue",
            "lambda",
            "yield",
            "global",
            "nonlocal",
            "assert",
            "del",
            "self",
            "cls",
            "async",
            "await",
            "super",
            "len",
            "isinstance",
            "print",
            "str",
            "int",
            "list",
            "dict",
            "tuple",
            "set",
        ],
    },
    Language {
        name: "javascript",
        grammar: Some(ts_javascript),
        defs: JS_DEFS,
        wrappers: &["export_statement"],
        comments: &["comment"],
        keywords: C_LIKE_KEYWORDS,
    },
    Language {
        name: "typescript",
        grammar: Some(ts_typescript),
        defs: TS_DEFS,
        wrappers: &["export_statement"],
        comments: &["comment"],
        keywords: C_LIKE_KEYWORDS,
    },
    Language {
        name: "tsx",
        grammar: Some(ts_tsx),
        defs: TS_DEFS,
        wrappers: &["export_statement"],
        comments: &["comment"],
        keywords: C_LIKE_KEYWORDS,
    },
    Language {
        name: "go",
        grammar: Some(ts_go),
        defs: &[
            def("function_declaration", K::Function),
            def("method_declaration", K::Method),
            def("type_declaration", K::Type),
        ],
        wrappers: &[],
        comments: &["comment"],
        keywords: C_LIKE_KEYWORDS,
    },
    Language {
        name: "java",
        grammar: Some(ts_java),
        defs: &[
            container("class_declaration", K::Class),
            container("interface_declaration", K::Interface),
            container("enum_declaration", K::Enum),
            container("record_declaration", K::Class),
            def("annotation_type_declaration", K::Interface),
            def("method_declaration", K::Method),
            def("constructor_declaration", K::Method),
        ],
        wrappers: &[],
        comments: &["line_comment", "block_comment"],
        keywords: C_LIKE_KEYWORDS,
    },
    Language {
        name: "c",
        grammar: Some(ts_c),
        defs: &[
            def("function_definition", K::Function),
            def("struct_specifier", K::Struct),
            def("union_specifier", K::Struct),
            def("enum_specifier", K::Enum),
            def("type_definition", K::Type),
            def("preproc_function_def", K::Macro),
        ],
        wrappers: &[],
        comments: &["comment"],
        keywords: C_LIKE_KEYWORDS,
    },
    Language {
        name: "cpp",
        grammar: Some(ts_cpp),
        defs: &[
            def("function_definition", K::Function),
            container("class_specifier", K::Class),
            container("struct_specifier", K::Struct),
            def("union_specifier", K::Struct),
            def("enum_specifier", K::Enum),
            container("namespace_definition", K::Module),
            def("type_definition", K::Type),
            def("alias_declaration", K::Type),
            def("preproc_function_def", K::Macro),
        ],
        wrappers: &["template_declaration"],
        comments: &["comment"],
        keywords: C_LIKE_KEYWORDS,
    },
    Language {
        name: "csharp",
        grammar: Some(ts_csharp),
        defs: &[
            container("namespace_declaration", K::Module),
            container("class_declaration", K::Class),
            container("struct_declaration", K::Struct),
            container("interface_declaration", K::Interface),
            container("record_declaration", K::Class),
            def("enum_declaration", K::Enum),
            def("method_declaration", K::Method),
            def("constructor_declaration", K::Method),
            def("property_declaration", K::Method),
            def("delegate_declaration", K::Type),
        ],
        wrappers: &[],
        comments: &["comment"],
        keywords: C_LIKE_KEYWORDS,
    },
    Language {
        name: "ruby",
        grammar: Some(ts_ruby),
        defs: &[
            def("method", K::Method),
            def("singleton_method", K::Method),
            container("class", K::Class),
            container("module", K::Module),
            container("singleton_class", K::Class),
        ],
        wrappers: &[],
        comments: &["comment"],
        keywords: &[
            "def", "end", "class", "module", "if", "elsif", "else", "unless", "while", "until",
            "for", "in", "do", "return", "yield", "begin", "rescue", "ensure", "raise", "self",
            "nil", "true", "false", "and", "or", "not", "then", "case", "when", "super",
        ],
    },
    Language {
        name: "php",
        grammar: Some(ts_php),
        defs: &[
            def("function_definition", K::Function),
            def("method_declaration", K::Method),
            container("class_declaration", K::Class),
            container("interface_declaration", K::Interface),
            container("trait_declaration", K::Interface),
            def("enum_declaration", K::Enum),
        ],
        wrappers: &[],
        comments: &["comment"],
        keywords: C_LIKE_KEYWORDS,
    },
    Language {
        name: "bash",
        grammar: Some(ts_bash),
        defs: &[def("function_definition", K::Function)],
        wrappers: &[],
        comments: &["comment"],
        keywords: &[
            "if", "then", "else", "elif", "fi", "for", "while", "do", "done", "case", "esac", "in",
            "function", "return", "local", "export", "echo", "exit",
        ],
    },
    text("markdown"),
    text("rst"),
    text("text"),
    text("yaml"),
    text("toml"),
    text("sql"),
    Language {
        name: "html",
        grammar: Some(ts_html),
        defs: &[
            container("element", K::Block),
            def("script_element", K::Block),
            def("style_element", K::Block),
        ],
        wrappers: &[],
        comments: &["comment"],
        keywords: &[],
    },
    Language {
        name: "css",
        grammar: Some(ts_css),
        defs: &[
            def("rule_set", K::Block),
            container("media_statement", K::Block),
            def("keyframes_statement", K::Block),
        ],
        wrappers: &[],
        comments: &["comment"],
        keywords: &[],
    },
    text("xml"),
    text("ini"),
    text("make"),
    text("dockerfile"),
    text("protobuf"),
    text("graphql"),
    Language {
        name: "kotlin",
        grammar: Some(ts_kotlin),
        defs: &[
            def("function_declaration", K::Function),
            def("secondary_constructor", K::Function),
            container("class_declaration", K::Class),
            container("object_declaration", K::Class),
            container("companion_object", K::Class),
        ],
        wrappers: &[],
        comments: &["line_comment", "block_comment"],
        keywords: &[
            "fun",
            "val",
            "var",
            "if",
            "else",
            "when",
            "for",
            "while",
            "do",
            "return",
            "class",
            "object",
            "interface",
            "override",
            "private",
            "public",
            "internal",
            "this",
            "null",
            "true",
            "false",
            "is",
            "as",
            "in",
            "try",
            "catch",
            "throw",
            "suspend",
            "data",
        ],
    },
    Language {
        name: "swift",
        grammar: Some(ts_swift),
        defs: &[
            def("function_declaration", K::Function),
            def("init_declaration", K::Function),
            def("protocol_function_declaration", K::Function),
            container("class_declaration", K::Class),
            container("protocol_declaration", K::Interface),
            def("typealias_declaration", K::Type),
        ],
        wrappers: &[],
        comments: &["comment", "multiline_comment"],
        keywords: &[
            "func",
            "let",
            "var",
            "if",
            "else",
            "guard",
            "switch",
            "case",
            "for",
            "while",
            "return",
            "class",
            "struct",
            "enum",
            "protocol",
            "extension",
            "self",
            "nil",
            "true",
            "false",
            "in",
            "try",
            "catch",
            "throw",
            "throws",
            "async",
            "await",
            "init",
        ],
    },
    Language {
        name: "scala",
        grammar: Some(ts_scala),
        defs: &[
            def("function_definition", K::Function),
            def("function_declaration", K::Function),
            container("class_definition", K::Class),
            container("object_definition", K::Class),
            container("trait_definition", K::Interface),
            container("enum_definition", K::Enum),
            def("given_definition", K::Function),
            container("extension_definition", K::Impl),
            def("type_definition", K::Type),
        ],
        wrappers: &[],
        comments: &["comment", "block_comment"],
        keywords: &[
            "def", "val", "var", "if", "else", "match", "case", "for", "while", "yield", "return",
            "class", "object", "trait", "extends", "with", "new", "this", "null", "true", "false",
            "try", "catch", "throw", "implicit", "given", "using",
        ],
    },
    Language {
        name: "lua",
        grammar: Some(ts_lua),
        defs: &[def("function_declaration", K::Function)],
        wrappers: &[],
        comments: &["comment"],
        keywords: &[
            "function", "local", "if", "then", "else", "elseif", "end", "for", "while", "do",
            "repeat", "until", "return", "nil", "true", "false", "and", "or", "not", "in",
        ],
    },
    text("perl"),
    Language {
        name: "r",
        grammar: Some(ts_r),
        // `name <- function(…)`: an assignment whose value is a function (see chunk::tree).
        defs: &[def("binary_operator", K::Function)],
        wrappers: &[],
        comments: &["comment"],
        keywords: &[
            "function", "if", "else", "for", "while", "repeat", "return", "in", "next", "break",
            "TRUE", "FALSE", "NULL", "NA",
        ],
    },
    Language {
        name: "elixir",
        grammar: Some(ts_elixir),
        // Definitions are calls of `def`, `defmodule`… (see chunk::tree).
        defs: &[container("call", K::Function)],
        wrappers: &[],
        comments: &["comment"],
        keywords: &[
            "def",
            "defp",
            "defmodule",
            "do",
            "end",
            "fn",
            "if",
            "else",
            "case",
            "cond",
            "with",
            "when",
            "for",
            "receive",
            "nil",
            "true",
            "false",
            "and",
            "or",
            "not",
        ],
    },
    Language {
        name: "haskell",
        grammar: Some(ts_haskell),
        defs: &[
            def("function", K::Function),
            def("bind", K::Function),
            def("data_type", K::Type),
            def("newtype", K::Type),
            def("type_synonym", K::Type),
            def("class", K::Interface),
            def("instance", K::Impl),
        ],
        wrappers: &[],
        // A type signature documents the equations under it: it travels with them.
        comments: &["comment", "haddock", "signature"],
        keywords: &[
            "let", "in", "where", "if", "then", "else", "case", "of", "do", "data", "type",
            "newtype", "class", "instance", "module", "import", "deriving", "return",
        ],
    },
    Language {
        name: "ocaml",
        grammar: Some(ts_ocaml),
        defs: &[
            def("value_definition", K::Function),
            def("type_definition", K::Type),
            container("module_definition", K::Module),
            container("class_definition", K::Class),
        ],
        wrappers: &[],
        comments: &["comment"],
        keywords: &[
            "let", "rec", "in", "if", "then", "else", "match", "with", "fun", "function", "type",
            "module", "struct", "end", "sig", "open", "begin", "true", "false",
        ],
    },
    text("dart"),
    Language {
        name: "zig",
        grammar: Some(ts_zig),
        defs: &[
            def("function_declaration", K::Function),
            def("test_declaration", K::Function),
            // `const Point = struct { … }` (see chunk::tree).
            container("variable_declaration", K::Struct),
        ],
        wrappers: &[],
        comments: &["comment"],
        keywords: &[
            "fn", "const", "var", "if", "else", "switch", "for", "while", "return", "try", "catch",
            "defer", "errdefer", "struct", "enum", "union", "pub", "comptime", "null", "true",
            "false", "orelse", "and", "or",
        ],
    },
    Language {
        name: "julia",
        grammar: Some(ts_julia),
        defs: &[
            def("function_definition", K::Function),
            def("macro_definition", K::Macro),
            def("struct_definition", K::Struct),
            def("abstract_definition", K::Type),
            container("module_definition", K::Module),
        ],
        wrappers: &[],
        comments: &["line_comment", "block_comment"],
        keywords: &[
            "function", "end", "if", "elseif", "else", "for", "while", "return", "struct",
            "mutable", "module", "using", "import", "begin", "let", "do", "nothing", "true",
            "false", "in",
        ],
    },
    text("vue"),
    text("svelte"),
    text("terraform"),
    text("nix"),
    text("cmake"),
];

const JS_DEFS: &[DefRule] = &[
    def("function_declaration", K::Function),
    def("generator_function_declaration", K::Function),
    container("class_declaration", K::Class),
    container("class", K::Class),
    def("method_definition", K::Method),
    // `const f = () => …`: a declaration whose value is a function (see chunk::tree).
    def("lexical_declaration", K::Function),
    def("variable_declaration", K::Function),
];

const TS_DEFS: &[DefRule] = &[
    def("function_declaration", K::Function),
    def("generator_function_declaration", K::Function),
    def("function_signature", K::Function),
    container("class_declaration", K::Class),
    container("abstract_class_declaration", K::Class),
    def("method_definition", K::Method),
    def("method_signature", K::Method),
    def("abstract_method_signature", K::Method),
    def("interface_declaration", K::Interface),
    def("type_alias_declaration", K::Type),
    def("enum_declaration", K::Enum),
    container("internal_module", K::Module),
    container("module", K::Module),
    def("lexical_declaration", K::Function),
    def("variable_declaration", K::Function),
];

const fn text(name: &'static str) -> Language {
    Language {
        name,
        grammar: None,
        defs: &[],
        wrappers: &[],
        comments: &[],
        keywords: &[],
    }
}

/// The language called `name` (or a usual alias of it: `py`, `ts`, `c++`…).
pub fn by_name(name: &str) -> Option<&'static Language> {
    let name = name.to_ascii_lowercase();
    let canonical = match name.as_str() {
        "rs" => "rust",
        "py" | "python3" => "python",
        "js" | "jsx" | "node" => "javascript",
        "ts" => "typescript",
        "golang" => "go",
        "c++" | "cc" | "cxx" | "hpp" => "cpp",
        "cs" | "c#" => "csharp",
        "rb" => "ruby",
        "sh" | "shell" | "zsh" => "bash",
        "md" => "markdown",
        "yml" => "yaml",
        other => other,
    };
    LANGUAGES.iter().find(|l| l.name == canonical)
}

/// The names `--lang` accepts, for error messages.
pub fn names() -> impl Iterator<Item = &'static str> {
    LANGUAGES.iter().map(|l| l.name)
}

/// The language of a file, from its name, or from a `#!` line for extension-less scripts.
pub fn detect(path: &Path, first_line: Option<&str>) -> Option<&'static Language> {
    let file_name = path.file_name()?.to_str()?;
    let lower = file_name.to_ascii_lowercase();
    let by_file = match lower.as_str() {
        "makefile" | "gnumakefile" => Some("make"),
        "dockerfile" | "containerfile" => Some("dockerfile"),
        "rakefile" | "gemfile" | "guardfile" | "vagrantfile" => Some("ruby"),
        "cmakelists.txt" => Some("cmake"),
        "readme" | "license" | "copying" | "authors" | "changelog" => Some("text"),
        _ => None,
    };
    if let Some(name) = by_file {
        return by_name(name);
    }
    let ext = match lower.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext,
        _ => return first_line.and_then(from_shebang),
    };
    let name = match ext {
        "rs" => "rust",
        "py" | "pyi" | "pyw" => "python",
        "js" | "mjs" | "cjs" | "jsx" => "javascript",
        "ts" | "mts" | "cts" => "typescript",
        "tsx" => "tsx",
        "go" => "go",
        "java" => "java",
        "c" | "h" => "c",
        "cc" | "cpp" | "cxx" | "c++" | "hh" | "hpp" | "hxx" | "h++" | "ipp" | "tpp" => "cpp",
        "cs" => "csharp",
        "rb" | "rake" | "gemspec" => "ruby",
        "php" | "phtml" => "php",
        "sh" | "bash" | "zsh" | "ksh" => "bash",
        "md" | "markdown" | "mdx" => "markdown",
        "rst" => "rst",
        "txt" | "adoc" => "text",
        "yaml" | "yml" => "yaml",
        "toml" => "toml",
        "sql" => "sql",
        "html" | "htm" => "html",
        "css" | "scss" | "sass" | "less" => "css",
        "xml" | "xsd" | "xsl" => "xml",
        "ini" | "cfg" | "conf" | "properties" => "ini",
        "mk" => "make",
        "proto" => "protobuf",
        "graphql" | "gql" => "graphql",
        "kt" | "kts" => "kotlin",
        "swift" => "swift",
        "scala" | "sc" => "scala",
        "lua" => "lua",
        "pl" | "pm" => "perl",
        "r" => "r",
        "ex" | "exs" => "elixir",
        "hs" => "haskell",
        "ml" | "mli" => "ocaml",
        "dart" => "dart",
        "zig" => "zig",
        "vue" => "vue",
        "svelte" => "svelte",
        "tf" | "hcl" => "terraform",
        "nix" => "nix",
        "cmake" => "cmake",
        _ => return None,
    };
    by_name(name)
}

fn from_shebang(line: &str) -> Option<&'static Language> {
    let rest = line.strip_prefix("#!")?;
    let mut words = rest.split_whitespace();
    let mut program = words.next()?.rsplit('/').next()?;
    if program == "env" {
        program = words.find(|w| !w.starts_with('-'))?;
    }
    let program = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    match program {
        "sh" | "bash" | "zsh" | "dash" | "ksh" => by_name("bash"),
        "python" => by_name("python"),
        "node" => by_name("javascript"),
        "ruby" => by_name("ruby"),
        "php" => by_name("php"),
        "perl" => by_name("perl"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classifier_version_knows_the_languages() {
        // A language learnt changes which files are unindexable: bump `walk::CLASSIFIER`,
        // then this list, so that indexes read the files they skipped again.
        const KNOWN: &str = "rust python javascript typescript tsx go java c cpp csharp ruby php bash markdown rst text yaml toml sql html css xml ini make dockerfile protobuf graphql kotlin swift scala lua perl r elixir haskell ocaml dart zig julia vue svelte terraform nix cmake";
        let known: Vec<&str> = names().collect();
        assert_eq!(
            (crate::walk::CLASSIFIER, known.len(), known.join(" ")),
            (1, KNOWN.split(' ').count(), KNOWN.to_string())
        );
    }

    #[test]
    fn detects_by_extension_name_and_shebang() {
        let name = |p: &str, first: Option<&str>| detect(Path::new(p), first).map(|l| l.name);
        assert_eq!(name("src/lib.rs", None), Some("rust"));
        assert_eq!(name("a/B.TSX", None), Some("tsx"));
        assert_eq!(name("Makefile", None), Some("make"));
        assert_eq!(
            name("bin/tool", Some("#!/usr/bin/env python3")),
            Some("python")
        );
        assert_eq!(name("bin/run", Some("#!/bin/bash -e")), Some("bash"));
        assert_eq!(name("bin/blob", None), None);
        assert_eq!(name(".bashrc", None), None);
        assert_eq!(name("photo.png", None), None);
    }

    #[test]
    fn every_grammar_loads() {
        for lang in LANGUAGES.iter().filter(|l| l.has_grammar()) {
            let mut parser = tree_sitter::Parser::new();
            parser
                .set_language(&(lang.grammar.unwrap())())
                .unwrap_or_else(|e| panic!("{}: {e}", lang.name));
        }
    }

    #[test]
    fn aliases_resolve() {
        assert_eq!(by_name("py").unwrap().name, "python");
        assert_eq!(by_name("C++").unwrap().name, "cpp");
        assert!(by_name("cobol").is_none());
    }
}
