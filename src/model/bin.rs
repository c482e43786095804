//! Little-endian binary encoding helpers for hoptrace's own files (spilled flows, partial
//! flow tables). Reading never panics: a short or damaged buffer gives `None`.

/// Appends fields to a byte vector.
#[derive(Default, Debug)]
pub struct BinWriter {
    /// The bytes written so far.
    pub buf: Vec<u8>,
}

impl BinWriter {
    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Two bytes.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Four bytes.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Eight bytes.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Eight bytes, signed.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// A length (u32) and the bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.buf.extend_from_slice(b);
    }
    /// A UTF-8 string as bytes.
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    /// A presence byte, then the value.
    pub fn opt<T>(&mut self, v: Option<T>, f: impl FnOnce(&mut Self, T)) {
        match v {
            Some(x) => {
                self.u8(1);
                f(self, x);
            }
            None => self.u8(0),
        }
    }
}

/// Reads fields written by [`BinWriter`].
#[derive(Debug)]
pub struct BinReader<'a> {
    b: &'a [u8],
    /// Position of the next field.
    pub at: usize,
}

impl<'a> BinReader<'a> {
    /// Starts reading at the beginning of `b`.
    pub fn new(b: &'a [u8]) -> BinReader<'a> {
        BinReader { b, at: 0 }
    }
    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    /// Two bytes.
    pub fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    /// Four bytes.
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    /// Eight bytes.
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    /// Eight bytes, signed.
    pub fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    /// A length and that many bytes.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    /// A UTF-8 string.
    pub fn str(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
    /// A presence byte, then the value.
    pub fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        match self.u8()? {
            0 => Some(None),
            1 => f(self).map(Some),
            _ => None,
        }
    }
    /// A count of items, capped so a damaged count cannot ask for unbounded memory.
    pub fn count(&mut self) -> Option<usize> {
        let n = self.u32()? as usize;
        // Every item takes at least one byte.
        (n <= self.b.len() - self.at).then_some(n)
    }
    /// True when everything was read.
    pub fn is_done(&self) -> bool {
        self.at == self.b.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_short_input_is_none() {
        let mut w = BinWriter::default();
        w.u8(7);
        w.u64(u64::MAX);
        w.i64(-5);
        w.str("héllo");
        w.opt(Some(3u16), |w, v| w.u16(v));
        w.opt(None::<u16>, |w, v| w.u16(v));
        let mut r = BinReader::new(&w.buf);
        assert_eq!(r.u8(), Some(7));
        assert_eq!(r.u64(), Some(u64::MAX));
        assert_eq!(r.i64(), Some(-5));
        assert_eq!(r.str().as_deref(), Some("héllo"));
        assert_eq!(r.opt(|r| r.u16()), Some(Some(3)));
        assert_eq!(r.opt(|r| r.u16()), Some(None));
        assert!(r.is_done());
        let mut r = BinReader::new(&w.buf[..5]);
        assert_eq!(r.u8(), Some(7));
        assert_eq!(r.u64(), None);
    }
}
