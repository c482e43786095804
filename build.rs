//! Decompresses the bundled databases (`data/asn.htdb`, `data/country.mmdb.zst`) into the
//! build's output directory, where `src/enrich/bundled.rs` includes them as they are read:
//! enrichment then starts without decompressing 21 MB at every run (it was most of the time
//! `flows --enrich` spent loading). The SHA-256 of each shipped file, which reports name,
//! is computed here too.

use sha2::{Digest, Sha256};
use std::path::Path;

fn main() {
    let out = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = Path::new(&out);
    let mut digests = String::new();
    for (file, raw, constant) in [
        ("data/asn.htdb", "asn.htdb.raw", "ASN_SHA256"),
        ("data/country.mmdb.zst", "country.mmdb", "COUNTRY_SHA256"),
    ] {
        println!("cargo::rerun-if-changed={file}");
        let shipped = std::fs::read(file).unwrap_or_else(|e| panic!("reading {file}: {e}"));
        let plain =
            zstd::decode_all(&shipped[..]).unwrap_or_else(|e| panic!("decompressing {file}: {e}"));
        std::fs::write(out.join(raw), plain).unwrap_or_else(|e| panic!("writing {raw}: {e}"));
        let hex: String = Sha256::digest(&shipped)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        digests.push_str(&format!(
            "/// SHA-256 of `{file}` as shipped.\npub const {constant}: &str = \"{hex}\";\n"
        ));
    }
    std::fs::write(out.join("bundled_digests.rs"), digests).expect("writing bundled_digests.rs");
}
