//! AMF0, the encoding of RTMP commands: a bounded decoder (nesting depth, value count and
//! every length checked against the bytes actually present, nothing allocated from a declared
//! count) and the small encoder our replies need.

use std::fmt;

/// Deepest nesting of objects and arrays accepted.
const MAX_DEPTH: usize = 8;
/// Most values in one message (every nested value counts).
const MAX_VALUES: usize = 512;

/// One AMF0 value. Objects keep their keys in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Boolean(bool),
    String(String),
    Object(Vec<(String, Value)>),
    Null,
    Undefined,
    EcmaArray(Vec<(String, Value)>),
    StrictArray(Vec<Value>),
    Date(f64),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// A property of an object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(p) | Value::EcmaArray(p) => {
                p.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }
}

/// Why bytes are not valid AMF0 (as far as we accept it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    UnknownMarker(u8),
    TooDeep,
    TooManyValues,
    BadUtf8,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "truncated AMF0 value"),
            DecodeError::UnknownMarker(m) => write!(f, "unsupported AMF0 marker {m:#04x}"),
            DecodeError::TooDeep => write!(f, "AMF0 nesting deeper than {MAX_DEPTH}"),
            DecodeError::TooManyValues => write!(f, "more than {MAX_VALUES} AMF0 values"),
            DecodeError::BadUtf8 => write!(f, "AMF0 string is not UTF-8"),
        }
    }
}

/// Decodes every value in `bytes`.
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Value>, DecodeError> {
    let mut d = Decoder {
        bytes,
        pos: 0,
        values: 0,
    };
    let mut out = Vec::new();
    while d.pos < d.bytes.len() {
        out.push(d.value(0)?);
    }
    Ok(out)
}

/// Decodes the first value of `bytes` and returns it with the number of bytes it took.
pub fn decode_one(bytes: &[u8]) -> Result<(Value, usize), DecodeError> {
    let mut d = Decoder {
        bytes,
        pos: 0,
        values: 0,
    };
    let v = d.value(0)?;
    Ok((v, d.pos))
}

struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
    values: usize,
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    fn utf8(&mut self, len: usize) -> Result<String, DecodeError> {
        let b = self.take(len)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| DecodeError::BadUtf8)
    }

    fn short_string(&mut self) -> Result<String, DecodeError> {
        let len = usize::from(self.u16()?);
        self.utf8(len)
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// Properties up to the end marker (an empty key then 0x09).
    fn properties(&mut self, depth: usize) -> Result<Vec<(String, Value)>, DecodeError> {
        let mut props = Vec::new();
        loop {
            let key = self.short_string()?;
            if key.is_empty() && self.bytes.get(self.pos) == Some(&0x09) {
                self.pos += 1;
                return Ok(props);
            }
            let v = self.value(depth + 1)?;
            props.push((key, v));
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(DecodeError::TooManyValues);
        }
        Ok(match self.u8()? {
            0x00 => Value::Number(self.f64()?),
            0x01 => Value::Boolean(self.u8()? != 0),
            0x02 => Value::String(self.short_string()?),
            0x03 => Value::Object(self.properties(depth)?),
            0x05 => Value::Null,
            0x06 => Value::Undefined,
            0x08 => {
                let _declared_count = self.u32()?; // a hint only; the end marker decides
                Value::EcmaArray(self.properties(depth)?)
            }
            0x0A => {
                let count = self.u32()? as usize;
                // Each value takes at least one byte: a count beyond what is left is a lie.
                if count > self.remaining() {
                    return Err(DecodeError::Truncated);
                }
                let mut items = Vec::new();
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Value::StrictArray(items)
            }
            0x0B => {
                let ms = self.f64()?;
                self.take(2)?; // time zone, unused
                Value::Date(ms)
            }
            0x0C | 0x0F => {
                let len = self.u32()? as usize;
                Value::String(self.utf8(len)?)
            }
            0x10 => {
                let _class = self.short_string()?;
                Value::Object(self.properties(depth)?)
            }
            m => return Err(DecodeError::UnknownMarker(m)),
        })
    }
}

/// Appends AMF0 encodings to a buffer.
#[derive(Debug, Default)]
pub struct Encoder {
    pub bytes: Vec<u8>,
}

impl Encoder {
    /// A number.
    pub fn number(&mut self, n: f64) -> &mut Self {
        self.bytes.push(0x00);
        self.bytes.extend_from_slice(&n.to_be_bytes());
        self
    }

    /// A string (long strings use the long form).
    pub fn string(&mut self, s: &str) -> &mut Self {
        match u16::try_from(s.len()) {
            Ok(len) => {
                self.bytes.push(0x02);
                self.bytes.extend_from_slice(&len.to_be_bytes());
            }
            Err(_) => {
                self.bytes.push(0x0C);
                self.bytes
                    .extend_from_slice(&(s.len() as u32).to_be_bytes());
            }
        }
        self.bytes.extend_from_slice(s.as_bytes());
        self
    }

    /// Null.
    pub fn null(&mut self) -> &mut Self {
        self.bytes.push(0x05);
        self
    }

    /// An object of string, number or boolean properties.
    pub fn object(&mut self, props: &[(&str, Value)]) -> &mut Self {
        self.bytes.push(0x03);
        for (k, v) in props {
            let k = &k.as_bytes()[..k.len().min(usize::from(u16::MAX))];
            self.bytes
                .extend_from_slice(&(k.len() as u16).to_be_bytes());
            self.bytes.extend_from_slice(k);
            self.value(v);
        }
        self.bytes.extend_from_slice(&[0, 0, 0x09]);
        self
    }

    /// Any value we encode (strings, numbers, booleans, null; nested objects).
    pub fn value(&mut self, v: &Value) -> &mut Self {
        match v {
            Value::Number(n) => self.number(*n),
            Value::Boolean(b) => {
                self.bytes.extend_from_slice(&[0x01, u8::from(*b)]);
                self
            }
            Value::String(s) => self.string(s),
            Value::Object(p) | Value::EcmaArray(p) => {
                let props: Vec<(&str, Value)> =
                    p.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                self.object(&props)
            }
            Value::Null | Value::StrictArray(_) | Value::Date(_) => self.null(),
            Value::Undefined => {
                self.bytes.push(0x06);
                self
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    #[test]
    fn round_trips_a_connect_command() {
        let mut e = Encoder::default();
        e.string("connect").number(1.0).object(&[
            ("app", s("live")),
            ("tcUrl", s("rtmp://host/live")),
            ("fpad", Value::Boolean(false)),
            ("audioCodecs", Value::Number(3191.0)),
        ]);
        let values = decode_all(&e.bytes).expect("decodes");
        assert_eq!(values[0], s("connect"));
        assert_eq!(values[1], Value::Number(1.0));
        assert_eq!(values[2].get("app"), Some(&s("live")));
        assert_eq!(values[2].get("fpad"), Some(&Value::Boolean(false)));
    }

    #[test]
    fn decodes_ecma_arrays_strict_arrays_dates_and_long_strings() {
        let mut b = vec![0x08, 0, 0, 0, 9]; // declares 9 entries, has 1: the marker decides
        b.extend_from_slice(&[0, 1, b'w', 0]);
        b.extend_from_slice(&640f64.to_be_bytes());
        b.extend_from_slice(&[0, 0, 9]);
        b.extend_from_slice(&[0x0A, 0, 0, 0, 2, 0x05, 0x06]);
        b.push(0x0B);
        b.extend_from_slice(&1.0f64.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&[0x0C, 0, 0, 0, 2, b'h', b'i']);
        let v = decode_all(&b).expect("decodes");
        assert_eq!(v[0].get("w"), Some(&Value::Number(640.0)));
        assert_eq!(
            v[1],
            Value::StrictArray(vec![Value::Null, Value::Undefined])
        );
        assert_eq!(v[2], Value::Date(1.0));
        assert_eq!(v[3], s("hi"));
    }

    #[test]
    fn refuses_lies_and_bombs_without_allocating_for_them() {
        // A strict array that declares four billion items in five bytes.
        assert_eq!(
            decode_all(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(DecodeError::Truncated)
        );
        // A long string that declares 4 GiB.
        assert_eq!(
            decode_all(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF, b'a']),
            Err(DecodeError::Truncated)
        );
        // Objects nested past the limit.
        let mut deep = Vec::new();
        for _ in 0..20 {
            deep.extend_from_slice(&[0x03, 0, 1, b'a']);
        }
        deep.push(0x05);
        assert_eq!(decode_all(&deep), Err(DecodeError::TooDeep));
        // Too many values.
        let many = vec![0x05; MAX_VALUES + 1];
        assert_eq!(decode_all(&many), Err(DecodeError::TooManyValues));
        // Markers we do not take (references, AMF3 switch).
        assert_eq!(
            decode_all(&[0x07, 0, 0]),
            Err(DecodeError::UnknownMarker(7))
        );
        assert_eq!(decode_all(&[0x11]), Err(DecodeError::UnknownMarker(0x11)));
        assert_eq!(
            decode_all(&[0x02, 0, 2, 0xFF, 0xFE]),
            Err(DecodeError::BadUtf8)
        );
        // An object without its end marker.
        assert_eq!(
            decode_all(&[0x03, 0, 1, b'a', 0x05]),
            Err(DecodeError::Truncated)
        );
    }
}
