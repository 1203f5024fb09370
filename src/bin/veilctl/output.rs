//! What commands print on stdout: aligned tables for people, JSON for
//! scripts (`--json`). Diagnostics go to stderr elsewhere.

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;

/// Global output settings.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub verbose: bool,
}

/// Pretty JSON, one document per command.
pub fn print_json(value: &Value) {
    // Serializing a `Value` cannot fail; fall back to the compact form anyway.
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    println!("{text}");
}

/// A borderless table with a header row, columns separated by two spaces.
pub fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(header.to_vec());
    table.add_rows(rows);
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    for line in table.lines() {
        println!("{}", line.trim_end());
    }
}
