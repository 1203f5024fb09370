//! The crate's folders are its layers and no import runs upward:
//! `core` ← `formats` ← `store` ← `services` ← `api` ← `app` (← `testkit`,
//! test support only; `src/bin` reaches everything through `veil::`).
//! The top-level modules inside `services/` must not import each other in a
//! cycle. This test reads the source as text, so it needs no build of the
//! crate and names the file and line of every offence.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first.
const LAYERS: &[&str] = &["core", "formats", "store", "services", "api", "app", "testkit"];

/// The modules of `services/` between which no cycle may exist.
const SERVICES: &[&str] =
    &["abuse", "access", "audit", "breakglass", "config", "disclose", "keyring", "mint", "verify"];

/// Known upward imports, as (file, target layer): each is reported by the
/// test until it is removed, and the test fails if one is no longer needed.
const ALLOWED_UPWARD: &[(&str, &str)] = &[];

/// One `crate::…` (or `super::…` resolved to the crate) reference.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    line: usize,
    /// The module path below the crate root, e.g. `["services", "audit"]`.
    path: Vec<String>,
}

/// A file's module path, e.g. `src/services/abuse/mod.rs` → `services::abuse`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> =
        relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" && stem != "lib" {
            parts.push(stem.to_string());
        }
    }
    parts
}

/// Source text with comments, string and char literals blanked out, line
/// breaks kept (so line numbers still hold).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while let Some(&c) = chars.get(i) {
                if c == '\n' {
                    break;
                }
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while let Some(&c) = chars.get(i) {
                let next = chars.get(i + 1).copied();
                if c == '/' && next == Some('*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c == '*' && next == Some('/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // Raw string: r"…" or r#"…"#.
            let mut hashes = 0;
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let closing: String =
                std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            out.extend(chars[i..=j].iter().map(|&c| blank(c)));
            i = j + 1;
            while i < chars.len() {
                let rest: String = chars[i..chars.len().min(i + closing.len())].iter().collect();
                if rest == closing {
                    out.extend(closing.chars().map(blank));
                    i += closing.len();
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while let Some(&c) = chars.get(i) {
                i += 1;
                if c == '\\' {
                    out.push(' ');
                    if let Some(&escaped) = chars.get(i) {
                        out.push(blank(escaped));
                        i += 1;
                    }
                    continue;
                }
                out.push(blank(c));
                if c == '"' {
                    break;
                }
            }
        } else if c == '\'' && char_literal_end(&chars, i).is_some() {
            let end = char_literal_end(&chars, i).unwrap_or(i);
            out.extend(chars[i..=end].iter().map(|_| ' '));
            i = end + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && chars.get(i - 1).is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// The index of the closing quote of a char literal starting at `i` (not a
/// lifetime such as `'a`).
fn char_literal_end(chars: &[char], i: usize) -> Option<usize> {
    match chars.get(i + 1)? {
        '\\' => (i + 3..i + 12).find(|&j| chars.get(j) == Some(&'\'')),
        _ => (chars.get(i + 2) == Some(&'\'')).then_some(i + 2),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

/// Identifiers, `::` and single punctuation, each with its line.
fn tokens(code: &str) -> Vec<(usize, Token)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
        } else if c.is_alphabetic() || c == '_' {
            let mut ident = String::from(c);
            while let Some(&c) = chars.peek().filter(|c| c.is_alphanumeric() || **c == '_') {
                ident.push(c);
                chars.next();
            }
            out.push((line, Token::Ident(ident)));
        } else if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            out.push((line, Token::PathSep));
        } else if !c.is_whitespace() {
            out.push((line, Token::Punct(c)));
        }
    }
    out
}

/// Every path that starts at `crate::` or climbs out of `module` with
/// `super::`, as a path below the crate root. A `{…}` group yields one
/// reference per member.
fn references(module: &[String], text: &str) -> Vec<Reference> {
    let tokens = tokens(&code_only(text));
    let mut found = Vec::new();
    let mut i = 0;
    while let Some((_, token)) = tokens.get(i) {
        let preceded_by_path = i > 0 && matches!(tokens.get(i - 1), Some((_, Token::PathSep)));
        let base = match token {
            Token::Ident(word) if word == "crate" && !preceded_by_path => Some((Vec::new(), i + 1)),
            Token::Ident(word) if word == "super" && !preceded_by_path => {
                let mut base = module.to_vec();
                let mut j = i;
                while matches!(tokens.get(j), Some((_, Token::Ident(w))) if w == "super")
                    && matches!(tokens.get(j + 1), Some((_, Token::PathSep)))
                {
                    base.pop();
                    j += 2;
                }
                Some((base, j.saturating_sub(1)))
            }
            _ => None,
        };
        if let Some((base, after)) = base
            && matches!(tokens.get(after), Some((_, Token::PathSep)))
        {
            collect_tree(&tokens, after + 1, &base, &mut found);
        }
        i += 1;
    }
    found
}

/// Reads the use-tree (or plain path) at `start` and records each leaf path
/// (down to two segments, which is all the layer rules look at).
fn collect_tree(
    tokens: &[(usize, Token)],
    start: usize,
    base: &[String],
    found: &mut Vec<Reference>,
) -> usize {
    let mut path = base.to_vec();
    let mut i = start;
    let mut line = tokens.get(start).map_or(0, |(line, _)| *line);
    loop {
        match tokens.get(i) {
            Some((at, Token::Ident(word))) => {
                line = *at;
                if word != "self" {
                    path.push(word.clone());
                }
                i += 1;
                if matches!(tokens.get(i), Some((_, Token::PathSep))) {
                    i += 1;
                    continue;
                }
                found.push(Reference { line, path });
                return i;
            }
            Some((_, Token::Punct('{'))) => {
                i += 1;
                loop {
                    match tokens.get(i) {
                        Some((_, Token::Punct('}'))) | None => return i + 1,
                        Some((_, Token::Punct(','))) => i += 1,
                        Some((_, Token::Punct('*'))) => i += 1,
                        Some((_, Token::Ident(word))) if word == "as" => i += 2,
                        _ => {
                            let next = collect_tree(tokens, i, &path, found);
                            i = if next > i { next } else { i + 1 };
                        }
                    }
                }
            }
            _ => {
                if path.len() > base.len() {
                    found.push(Reference { line, path });
                }
                return i;
            }
        }
    }
}

fn layer(name: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| *layer == name)
}

/// An import that runs up the layers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    from: String,
    to: String,
}

/// Checks one file; `file` is its path relative to the crate root
/// (`src/...`). Also returns the file's edges between `services/` modules.
fn check_file(file: &str, text: &str) -> (Vec<Violation>, BTreeSet<(String, String)>) {
    let relative = Path::new(file).strip_prefix("src").unwrap_or(Path::new(file));
    let module = module_path(relative);
    let mut violations = Vec::new();
    let mut edges = BTreeSet::new();
    let Some(own) = module.first().and_then(|top| layer(top).map(|rank| (top.clone(), rank)))
    else {
        return (violations, edges);
    };
    for reference in references(&module, text) {
        let Some(target) = reference.path.first() else { continue };
        let Some(rank) = layer(target) else { continue };
        if rank > own.1 {
            violations.push(Violation {
                file: file.to_string(),
                line: reference.line,
                from: own.0.clone(),
                to: target.clone(),
            });
        }
        if own.0 == "services"
            && target == "services"
            && let (Some(from), Some(to)) = (module.get(1), reference.path.get(1))
            && from != to
            && SERVICES.contains(&from.as_str())
            && SERVICES.contains(&to.as_str())
        {
            edges.insert((from.clone(), to.clone()));
        }
    }
    (violations, edges)
}

/// One cycle in `edges`, as the modules along it (first repeated at the end).
fn find_cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges {
        graph.entry(from).or_default().push(to);
    }
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = stack.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = stack[start..].iter().map(|n| n.to_string()).collect();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, &graph, &mut Vec::new(), &mut done))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_import_runs_up_the_layers_and_services_have_no_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut edges = BTreeSet::new();
    for path in &files {
        let relative = path.strip_prefix(root).expect("under the crate");
        let file = relative.to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(path).expect("source file");
        let (found, file_edges) = check_file(&file, &text);
        violations.extend(found);
        edges.extend(file_edges);
    }
    let (allowed, forbidden): (Vec<_>, Vec<_>) = violations
        .into_iter()
        .partition(|v| ALLOWED_UPWARD.contains(&(v.file.as_str(), v.to.as_str())));
    for v in &allowed {
        eprintln!("allowed for now: {}:{}: {} imports {}", v.file, v.line, v.from, v.to);
    }
    let report: Vec<String> = forbidden
        .iter()
        .map(|v| format!("{}:{}: {} imports {} (a higher layer)", v.file, v.line, v.from, v.to))
        .collect();
    assert!(report.is_empty(), "imports that run up the layers:\n{}", report.join("\n"));
    let stale: Vec<_> = ALLOWED_UPWARD
        .iter()
        .filter(|(file, to)| !allowed.iter().any(|v| v.file == *file && v.to == *to))
        .collect();
    assert!(stale.is_empty(), "no longer needed in ALLOWED_UPWARD, remove: {stale:?}");
    if let Some(cycle) = find_cycle(&edges) {
        panic!("cycle between services modules: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_checker_catches_an_upward_import() {
    let text = "//! crate::api in a comment is not an import\n\
                use crate::core::clock::Clock;\n\
                use crate::{formats::x509, api::problem::Problem};\n\
                fn f() { let _ = \"crate::app\"; crate::services::mint::run(); }\n";
    let (violations, _) = check_file("src/store/example.rs", text);
    let found: Vec<(usize, &str)> = violations.iter().map(|v| (v.line, v.to.as_str())).collect();
    assert_eq!(found, vec![(3, "api"), (4, "services")]);

    let climbing = "use super::super::keys::Signer;\nuse super::super::super::app::run;\n";
    let (violations, _) = check_file("src/formats/disclosure/x.rs", climbing);
    let found: Vec<(usize, &str)> = violations.iter().map(|v| (v.line, v.to.as_str())).collect();
    assert_eq!(found, vec![(2, "app")], "super:: climbs to the crate root and into app");

    let (violations, _) = check_file("src/app.rs", "use crate::api::router;\n");
    assert!(violations.is_empty(), "app may use api");
}

#[test]
fn the_checker_catches_a_cycle_between_services() {
    let (_, mint) = check_file("src/services/mint.rs", "use crate::services::keyring::Keys;\n");
    let (_, keyring) = check_file("src/services/keyring.rs", "use super::audit::Event;\n");
    let (_, audit) = check_file("src/services/audit/chain.rs", "use super::super::mint::Minted;\n");
    let mut edges: BTreeSet<_> = mint.into_iter().chain(keyring).collect();
    assert_eq!(find_cycle(&edges), None);
    edges.extend(audit);
    let cycle = find_cycle(&edges).expect("mint -> keyring -> audit -> mint");
    assert_eq!(cycle, vec!["audit", "mint", "keyring", "audit"]);
}
