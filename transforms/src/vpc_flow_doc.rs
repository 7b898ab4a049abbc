//! The ECS document of a VPC flow record, written as text from a template.
//!
//! Every field a flow record can produce has a place known once its layout (the log's field
//! order) is: the mapped columns, what ECS derives, the looked-up names, the original line. So
//! `parse.vpc_flow` builds, per layout, a tree of those places with their keys already escaped,
//! and per line fills one slot per place and writes the tree, leaving out empty objects. No map
//! is built, searched or dropped per line; that is what lets flow logs go by at several hundred
//! thousand lines a second on one core.

use serde_json::Value;
use std::collections::BTreeMap;

/// What goes in one place of the document.
#[derive(Debug, Clone, Default)]
pub enum Slot<'a> {
    #[default]
    Empty,
    Str(&'a str),
    Int(i64),
    /// JSON text, written as it is.
    Raw(&'static str),
    Text(String),
    Json(Value),
}

impl Slot<'_> {
    pub fn is_empty(&self) -> bool {
        matches!(self, Slot::Empty)
    }

    /// The slot's value as lookup text (strings as they are, numbers in decimal).
    /// The slot's value as lookup text, as `value_text` gives it for the same value in a tree:
    /// strings as they are, anything else as JSON.
    pub fn key_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Slot::Empty => None,
            Slot::Str(s) => Some((*s).into()),
            Slot::Text(s) => Some(s.as_str().into()),
            Slot::Int(n) => Some(n.to_string().into()),
            Slot::Raw(json) => match serde_json::from_str::<String>(json) {
                Ok(s) => Some(s.into()),
                Err(_) => Some((*json).into()),
            },
            Slot::Json(v) => Some(sluice_core::message::value_text(v).into_owned().into()),
        }
    }
}

enum Node {
    Leaf { key: Vec<u8>, slot: usize },
    Object { key: Vec<u8>, children: Vec<Node> },
}

/// The places of a document and their slots.
pub struct Template {
    root: Vec<Node>,
    slots: usize,
}

/// A place being built: a slot, or an object of places.
enum Draft {
    Leaf(usize),
    Object(BTreeMap<String, Draft>),
}

/// `"key":` as JSON text.
fn key_text(key: &str) -> Vec<u8> {
    let mut out = serde_json::to_vec(key).expect("a string serializes");
    out.push(b':');
    out
}

impl Template {
    /// A template for these places (each a list of object keys); slot `i` is `paths[i]`, and
    /// the same path given twice shares its slot. Fails when one place would hold both a value
    /// and an object (`source` and `source.ip`), which the caller handles another way.
    pub fn new(paths: &[Vec<String>]) -> Result<(Template, Vec<usize>), String> {
        let mut root: BTreeMap<String, Draft> = BTreeMap::new();
        let mut slots = Vec::with_capacity(paths.len());
        let mut next = 0;
        for path in paths {
            let (last, parents) = path.split_last().ok_or("an empty path")?;
            let mut level = &mut root;
            for key in parents {
                let draft = level
                    .entry(key.clone())
                    .or_insert_with(|| Draft::Object(BTreeMap::new()));
                level = match draft {
                    Draft::Object(children) => children,
                    Draft::Leaf(_) => return Err(format!("`{key}` is both a value and an object")),
                };
            }
            match level.get(last) {
                Some(Draft::Leaf(slot)) => slots.push(*slot),
                Some(Draft::Object(_)) => {
                    return Err(format!("`{last}` is both a value and an object"));
                }
                None => {
                    level.insert(last.clone(), Draft::Leaf(next));
                    slots.push(next);
                    next += 1;
                }
            }
        }
        fn build(level: BTreeMap<String, Draft>) -> Vec<Node> {
            level
                .into_iter()
                .map(|(key, draft)| match draft {
                    Draft::Leaf(slot) => Node::Leaf {
                        key: key_text(&key),
                        slot,
                    },
                    Draft::Object(children) => Node::Object {
                        key: key_text(&key),
                        children: build(children),
                    },
                })
                .collect()
        }
        let template = Template {
            root: build(root),
            slots: next,
        };
        Ok((template, slots))
    }

    /// Empty slots for one document.
    pub fn slots<'a>(&self) -> Vec<Slot<'a>> {
        vec![Slot::Empty; self.slots]
    }

    /// The document: every filled slot at its place, objects without any left out.
    pub fn write(&self, slots: &[Slot], out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        for node in &self.root {
            write_node(node, slots, out, &mut first);
        }
        out.push(b'}');
    }
}

fn write_node(node: &Node, slots: &[Slot], out: &mut Vec<u8>, first: &mut bool) {
    let mark = out.len();
    if !*first {
        out.push(b',');
    }
    match node {
        Node::Leaf { key, slot } => {
            let value = &slots[*slot];
            if value.is_empty() {
                out.truncate(mark);
                return;
            }
            out.extend_from_slice(key);
            write_value(value, out);
        }
        Node::Object { key, children } => {
            out.extend_from_slice(key);
            out.push(b'{');
            let mut inner_first = true;
            for child in children {
                write_node(child, slots, out, &mut inner_first);
            }
            if inner_first {
                out.truncate(mark);
                return;
            }
            out.push(b'}');
        }
    }
    *first = false;
}

fn write_value(value: &Slot, out: &mut Vec<u8>) {
    match value {
        Slot::Empty => unreachable!("empty slots are left out"),
        Slot::Str(s) => write_str(s, out),
        Slot::Text(s) => write_str(s, out),
        Slot::Int(n) => {
            serde_json::to_writer(&mut *out, n).expect("writing to memory");
        }
        Slot::Raw(json) => out.extend_from_slice(json.as_bytes()),
        Slot::Json(v) => serde_json::to_writer(&mut *out, v).expect("writing to memory"),
    }
}

/// A JSON string; flow log values almost never need escaping, so check before asking serde.
fn write_str(s: &str, out: &mut Vec<u8>) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("writing to memory");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_string).collect()
    }

    #[test]
    fn writes_filled_places_and_leaves_out_empty_objects() {
        let paths = [
            "source.ip",
            "source.port",
            "event.kind",
            "source.ip",
            "aws.vpcflow.x",
        ];
        let (t, slots) = Template::new(&paths.map(path)).unwrap();
        assert_eq!(slots, [0, 1, 2, 0, 3]);
        let mut values = t.slots();
        values[slots[0]] = Slot::Str("10.0.0.1");
        values[slots[1]] = Slot::Int(443);
        values[slots[2]] = Slot::Raw("\"event\"");
        let mut out = Vec::new();
        t.write(&values, &mut out);
        let doc: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            doc,
            json!({"source": {"ip": "10.0.0.1", "port": 443}, "event": {"kind": "event"}})
        );
        values[slots[1]] = Slot::Text("a \"quoted\" \\ value".into());
        values[slots[2]] = Slot::Empty;
        let mut out = Vec::new();
        t.write(&values, &mut out);
        let doc: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["source"]["port"], json!("a \"quoted\" \\ value"));
        assert!(doc.get("event").is_none());
    }

    #[test]
    fn a_place_that_is_value_and_object_is_refused() {
        assert!(Template::new(&[path("source"), path("source.ip")]).is_err());
        assert!(Template::new(&[path("source.ip"), path("source")]).is_err());
    }
}
