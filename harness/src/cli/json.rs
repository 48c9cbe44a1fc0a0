//! bpftool's streaming JSON writer (`json_writer.c`), reproduced byte for byte: compact with
//! `-j`, and with `-p` its own pretty layout (4-space indent, a newline before every property
//! name and before a closing bracket of a non-empty container, but none before array values,
//! so `"map_ids": [26\n    ],`). serde_json's pretty printer lays arrays out differently, which
//! is why this exists.

use std::fmt::Write as _;

/// The state of one `json_writer_t`: where output goes, nesting depth, pretty or compact, and
/// the pending separator (`sep`: nothing or a comma).
#[derive(Debug, Default)]
pub struct JsonWriter {
    out: String,
    depth: usize,
    pretty: bool,
    sep: bool,
}

impl JsonWriter {
    /// `jsonw_new` + `jsonw_pretty(pretty)`.
    pub fn new(pretty: bool) -> JsonWriter {
        JsonWriter {
            pretty,
            ..JsonWriter::default()
        }
    }

    fn eol(&mut self) {
        if self.pretty {
            self.out.push('\n');
            for _ in 0..self.depth {
                self.out.push_str("    ");
            }
        }
    }

    fn eor(&mut self) {
        if self.sep {
            self.out.push(',');
        }
        self.sep = true;
    }

    fn puts(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            match c {
                '\t' => self.out.push_str("\\t"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\x0c' => self.out.push_str("\\f"),
                '\x08' => self.out.push_str("\\b"),
                '\\' => self.out.push_str("\\\\"),
                '"' => self.out.push_str("\\\""),
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    fn begin(&mut self, c: char) {
        self.eor();
        self.out.push(c);
        self.depth += 1;
        self.sep = false;
    }

    fn end(&mut self, c: char) {
        self.depth = self.depth.saturating_sub(1);
        if self.sep {
            self.eol();
        }
        self.out.push(c);
        self.sep = true;
    }

    /// `jsonw_name`: a property name.
    pub fn name(&mut self, name: &str) {
        self.eor();
        self.eol();
        self.sep = false;
        self.puts(name);
        self.out.push(':');
        if self.pretty {
            self.out.push(' ');
        }
    }

    /// `jsonw_printf`: a raw value.
    pub fn raw(&mut self, v: &str) {
        self.eor();
        self.out.push_str(v);
    }

    /// `jsonw_start_object`.
    pub fn start_object(&mut self) {
        self.begin('{');
    }
    /// `jsonw_end_object`.
    pub fn end_object(&mut self) {
        self.end('}');
    }
    /// `jsonw_start_array`.
    pub fn start_array(&mut self) {
        self.begin('[');
    }
    /// `jsonw_end_array`.
    pub fn end_array(&mut self) {
        self.end(']');
    }
    /// `jsonw_string`.
    pub fn string(&mut self, s: &str) {
        self.eor();
        self.puts(s);
    }
    /// `jsonw_uint` / `jsonw_int`.
    pub fn num(&mut self, n: impl std::fmt::Display) {
        self.eor();
        let _ = write!(self.out, "{n}");
    }
    /// `jsonw_bool`.
    pub fn bool(&mut self, b: bool) {
        self.raw(if b { "true" } else { "false" });
    }
    /// `jsonw_null`.
    pub fn null(&mut self) {
        self.raw("null");
    }
    /// `jsonw_string_field`.
    pub fn string_field(&mut self, k: &str, v: &str) {
        self.name(k);
        self.string(v);
    }
    /// `jsonw_uint_field` / `jsonw_int_field`.
    pub fn num_field(&mut self, k: &str, v: impl std::fmt::Display) {
        self.name(k);
        self.num(v);
    }
    /// `jsonw_bool_field`.
    pub fn bool_field(&mut self, k: &str, v: bool) {
        self.name(k);
        self.bool(v);
    }

    /// `jsonw_destroy`: the final newline; the text written.
    pub fn finish(mut self) -> String {
        self.out.push('\n');
        self.out
    }

    /// Whether nothing has been written yet.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog(w: &mut JsonWriter) {
        w.start_object();
        w.num_field("id", 107);
        w.name("map_ids");
        w.start_array();
        w.num(26);
        w.end_array();
        w.num_field("btf_id", 22);
        w.end_object();
    }

    #[test]
    fn compact_and_pretty_layouts_are_bpftools() {
        let mut w = JsonWriter::new(false);
        w.start_array();
        prog(&mut w);
        w.end_array();
        assert_eq!(
            w.finish(),
            "[{\"id\":107,\"map_ids\":[26],\"btf_id\":22}]\n"
        );
        let mut w = JsonWriter::new(true);
        prog(&mut w);
        assert_eq!(
            w.finish(),
            "{\n    \"id\": 107,\n    \"map_ids\": [26\n    ],\n    \"btf_id\": 22\n}\n"
        );
        let mut w = JsonWriter::new(true);
        w.start_array();
        w.end_array();
        assert_eq!(w.finish(), "[]\n");
    }

    #[test]
    fn strings_are_escaped_as_jsonw_puts_does() {
        let mut w = JsonWriter::new(false);
        w.string("a\"b\\c\td\u{1}");
        assert_eq!(w.finish(), "\"a\\\"b\\\\c\\td\u{1}\"\n");
    }
}
