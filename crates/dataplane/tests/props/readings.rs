//! How servers read a request path before they resolve `.` and `..`: the references the
//! properties hold the target check to. Written here, independently of `auth::percent` and of
//! the data plane, from what servers are known to do: decode escapes (once, or twice), cut
//! `;…` path parameters off each segment (servlet containers: Tomcat, Jetty), read overlong
//! UTF-8 as the ASCII it spells, split segments on `/` and on `\`.

/// Decodes every valid `%XX` once, as an upstream that decodes before normalising would.
pub(crate) fn percent_decode(raw: &str) -> Vec<u8> {
    percent_decode_bytes(raw.as_bytes())
}

fn percent_decode_bytes(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&byte) = raw.get(i) {
        let escape = raw
            .get(i + 1..i + 3)
            .filter(|hex| byte == b'%' && hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(decoded) => {
                out.push(decoded);
                i += 3;
            }
            None => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// Whether some server that decodes escapes and splits on `/` or `\` would see a dot segment.
pub(crate) fn has_dot_segment(path: &str) -> bool {
    percent_decode(path)
        .split(|b| *b == b'/' || *b == b'\\')
        .any(|segment| segment == b"." || segment == b"..")
}

/// Whether some common server could resolve a `.` or `..` segment in `path`, reading it the
/// way servers do before they resolve dot segments: `;…` path parameters cut off each segment
/// (Tomcat, Jetty) before or after decoding, escapes decoded once or twice, overlong UTF-8 read
/// as the ASCII it spells, segments split on `/` and `\`.
pub(crate) fn a_server_reads_a_dot_segment(path: &str) -> bool {
    let raw = path.as_bytes().to_vec();
    // Servlet order: parameters cut off the raw segments, then the rest decoded.
    let cut_first = raw
        .split(|b| *b == b'/')
        .map(cut_path_parameters)
        .collect::<Vec<_>>()
        .join(&b'/');
    [raw, cut_first].iter().any(|start| {
        let once = percent_decode_bytes(start);
        let twice = percent_decode_bytes(&once);
        [
            fold_overlong_utf8(&once),
            fold_overlong_utf8(&twice),
            once,
            twice,
        ]
        .iter()
        .any(|decoded| {
            decoded
                .split(|b| *b == b'/' || *b == b'\\')
                .map(cut_path_parameters)
                .any(|segment| segment == b"." || segment == b"..")
        })
    })
}

/// A segment without its `;…` path parameters.
fn cut_path_parameters(segment: &[u8]) -> &[u8] {
    segment.split(|b| *b == b';').next().unwrap_or(segment)
}

/// `bytes` with every overlong UTF-8 form of an ASCII character (`C0 AE`, `E0 80 AE`,
/// `F0 80 80 AE`, and the 5- and 6-byte forms old decoders accept) replaced by that character,
/// as a lenient decoder reads it. Written here, independently of `auth::percent`.
fn fold_overlong_utf8(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&lead) = bytes.get(i) {
        let (len, bits) = match lead {
            0xC0..=0xDF => (2, lead & 0x1F),
            0xE0..=0xEF => (3, lead & 0x0F),
            0xF0..=0xF7 => (4, lead & 0x07),
            0xF8..=0xFB => (5, lead & 0x03),
            0xFC..=0xFD => (6, lead & 0x01),
            _ => (1, lead),
        };
        let ascii = bytes
            .get(i + 1..i + len)
            .filter(|tail| len > 1 && tail.iter().all(|b| b & 0xC0 == 0x80))
            .map(|tail| {
                tail.iter()
                    .fold(u32::from(bits), |value, b| value << 6 | u32::from(b & 0x3F))
            })
            .and_then(|value| u8::try_from(value).ok())
            .filter(u8::is_ascii);
        match ascii {
            Some(byte) => {
                out.push(byte);
                i += len;
            }
            None => {
                out.push(lead);
                i += 1;
            }
        }
    }
    out
}
