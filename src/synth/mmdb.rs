//! A small MaxMind DB writer (format 2.0, record size 24, IPv6 tree with IPv4 at `::/96`),
//! so tests and examples have databases of every shape without shipping anyone's data.
//! Written from the MaxMind DB format specification.

use std::net::IpAddr;

/// A value in the data section.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// UTF-8 string.
    Str(String),
    /// Unsigned 16-bit integer.
    U16(u16),
    /// Unsigned 32-bit integer.
    U32(u32),
    /// Unsigned 64-bit integer.
    U64(u64),
    /// Boolean.
    Bool(bool),
    /// Double.
    F64(f64),
    /// Map with string keys, in the order given.
    Map(Vec<(String, Value)>),
    /// Array.
    Array(Vec<Value>),
}

impl Value {
    /// A map from `(key, value)` pairs.
    pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// A string.
    pub fn s(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

fn control(out: &mut Vec<u8>, ty: u8, size: usize) {
    let (ext, ty_bits) = if ty > 7 {
        (Some(ty - 7), 0u8)
    } else {
        (None, ty)
    };
    let (sz, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, vec![])
    } else if size < 29 + 256 {
        (29, vec![(size - 29) as u8])
    } else if size < 285 + 65536 {
        let v = size - 285;
        (30, vec![(v >> 8) as u8, v as u8])
    } else {
        let v = size - 65821;
        (31, vec![(v >> 16) as u8, (v >> 8) as u8, v as u8])
    };
    out.push((ty_bits << 5) | sz);
    if let Some(e) = ext {
        out.push(e);
    }
    out.extend_from_slice(&extra);
}

fn uint(out: &mut Vec<u8>, ty: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    control(out, ty, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

/// Appends the encoding of a value.
pub fn encode(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => {
            control(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::F64(f) => {
            control(out, 3, 8);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::U16(x) => uint(out, 5, u64::from(*x)),
        Value::U32(x) => uint(out, 6, u64::from(*x)),
        Value::U64(x) => uint(out, 9, *x),
        Value::Bool(b) => control(out, 14, usize::from(*b)),
        Value::Map(m) => {
            control(out, 7, m.len());
            for (k, v) in m {
                encode(out, &Value::Str(k.clone()));
                encode(out, v);
            }
        }
        Value::Array(a) => {
            control(out, 11, a.len());
            for v in a {
                encode(out, v);
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Child {
    Empty,
    Node(usize),
    Data(usize),
}

/// Writes a MaxMind DB.
#[derive(Debug)]
pub struct MmdbWriter {
    database_type: String,
    build_epoch: u64,
    description: Option<String>,
    networks: Vec<(u128, u8, Value)>,
}

impl MmdbWriter {
    /// A writer for a database of `database_type` built at `build_epoch` (Unix seconds).
    pub fn new(database_type: &str, build_epoch: u64) -> MmdbWriter {
        MmdbWriter {
            database_type: database_type.to_string(),
            build_epoch,
            description: Some(format!("{database_type} written by hoptrace's test writer")),
            networks: Vec::new(),
        }
    }

    /// Leaves the description map empty (as the bundled country data does).
    pub fn without_description(mut self) -> MmdbWriter {
        self.description = None;
        self
    }

    /// Adds a network (`a.b.c.d/len`, `v6::/len`, or a single address) with its record.
    /// Panics on a malformed network: this writes test fixtures.
    pub fn insert(&mut self, net: &str, value: Value) -> &mut MmdbWriter {
        let (addr, len) = net.split_once('/').unwrap_or((net, ""));
        let ip: IpAddr = addr.parse().expect("network address");
        let (bits, base, full) = match ip {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 96u8, 32u8),
            IpAddr::V6(a) => (u128::from(a), 0, 128),
        };
        let len: u8 = if len.is_empty() {
            full
        } else {
            len.parse().expect("prefix length")
        };
        self.networks.push((bits, base + len, value));
        self
    }

    /// The database file.
    pub fn finish(&self) -> Vec<u8> {
        // Data section: one record per network, in insertion order.
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for (_, _, v) in &self.networks {
            offsets.push(data.len());
            encode(&mut data, v);
        }
        // Trie over the 128-bit space; shorter prefixes first so longer ones split them.
        let mut order: Vec<usize> = (0..self.networks.len()).collect();
        order.sort_by_key(|&i| self.networks[i].1);
        let mut nodes: Vec<[Child; 2]> = vec![[Child::Empty; 2]];
        for i in order {
            let (full, len, _) = &self.networks[i];
            let mut node = 0;
            for depth in 0..*len {
                let bit = ((full >> (127 - depth)) & 1) as usize;
                if depth + 1 == *len {
                    nodes[node][bit] = Child::Data(offsets[i]);
                    break;
                }
                node = match nodes[node][bit] {
                    Child::Node(n) => n,
                    other => {
                        // Split a shorter network's record (or nothing) into a new node.
                        let n = nodes.len();
                        nodes.push([other, other]);
                        nodes[node][bit] = Child::Node(n);
                        n
                    }
                };
            }
        }
        let node_count = nodes.len();
        let mut out = Vec::new();
        for n in &nodes {
            for c in n {
                let v = match *c {
                    Child::Empty => node_count,
                    Child::Node(x) => x,
                    Child::Data(off) => node_count + 16 + off,
                };
                out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
            }
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\xab\xcd\xefMaxMind.com");
        let description = match &self.description {
            Some(d) => Value::Map(vec![("en".to_string(), Value::Str(d.clone()))]),
            None => Value::Map(vec![]),
        };
        encode(
            &mut out,
            &Value::map([
                ("binary_format_major_version", Value::U16(2)),
                ("binary_format_minor_version", Value::U16(0)),
                ("build_epoch", Value::U64(self.build_epoch)),
                ("database_type", Value::s(&self.database_type)),
                ("description", description),
                ("ip_version", Value::U16(6)),
                ("languages", Value::Array(vec![Value::s("en")])),
                ("node_count", Value::U32(node_count as u32)),
                ("record_size", Value::U16(24)),
            ]),
        );
        out
    }
}

/// A GeoLite2-ASN-shaped record.
pub fn asn_record(asn: u32, org: &str) -> Value {
    Value::map([
        ("autonomous_system_number", Value::U32(asn)),
        ("autonomous_system_organization", Value::s(org)),
    ])
}

/// A GeoIP2-Country-shaped record (nested `country.iso_code`).
pub fn country_record(iso: &str, registered: &str) -> Value {
    let place = |c: &str| {
        Value::map([
            ("geoname_id", Value::U32(1)),
            ("iso_code", Value::s(c)),
            ("names", Value::map([("en", Value::s(c))])),
        ])
    };
    Value::map([
        ("continent", Value::map([("code", Value::s("EU"))])),
        ("country", place(iso)),
        ("registered_country", place(registered)),
    ])
}

/// The flat `{"country_code": ..}` shape of the bundled country data.
pub fn flat_country_record(iso: &str) -> Value {
    Value::map([("country_code", Value::s(iso))])
}
