//! Where WebSocket frames begin and end in a byte stream (RFC 6455 §5.2), read as the bytes
//! pass and without keeping any of them: a session's bytes are carried as they are, and this
//! only knows enough to put a Close frame between two frames rather than inside one.
//!
//! A frame is a 2-byte head, a 2- or 8-byte extended length (payload lengths 126 and 127), a
//! 4-byte masking key when the mask bit is set (every client-to-server frame), then the
//! payload. Nothing else is read: not the opcode's meaning beyond Close, not the RSV bits
//! (`permessage-deflate` sets RSV1), not the payload.

/// The Close opcode.
const CLOSE: u8 = 0x8;

/// The longest frame head: 2 bytes, an 8-byte length, a 4-byte masking key.
const MAX_HEAD: usize = 14;

/// The frame boundaries of one direction of a session.
#[derive(Debug, Clone)]
pub(super) struct Frames {
    state: State,
    /// Whether a complete Close frame has passed.
    close_seen: bool,
}

#[derive(Debug, Clone)]
enum State {
    /// Reading a frame head; `len` bytes of it so far.
    Head { head: [u8; MAX_HEAD], len: usize },
    /// Inside a frame's payload.
    Payload { remaining: u64, opcode: u8 },
}

impl Default for Frames {
    fn default() -> Self {
        Self {
            state: State::Head {
                head: [0; MAX_HEAD],
                len: 0,
            },
            close_seen: false,
        }
    }
}

/// How long a head is, from what is known of it (at least its first two bytes, else 2).
fn head_len(known: &[u8]) -> usize {
    let [_, second, ..] = known else {
        return 2;
    };
    let length = match second & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 == 0 { 0 } else { 4 };
    2 + length + mask
}

/// The payload length and opcode of a complete head.
fn parse_head(head: &[u8]) -> (u64, u8) {
    let opcode = head[0] & 0x0f;
    let payload = match head[1] & 0x7f {
        126 => u64::from(u16::from_be_bytes([head[2], head[3]])),
        127 => u64::from_be_bytes([
            head[2], head[3], head[4], head[5], head[6], head[7], head[8], head[9],
        ]),
        short => u64::from(short),
    };
    (payload, opcode)
}

impl Frames {
    /// Reads `bytes`, the next bytes of the stream.
    pub(super) fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Head { head, len } => {
                    let wanted = head_len(&head[..*len]) - *len;
                    let take = wanted.min(bytes.len());
                    head[*len..*len + take].copy_from_slice(&bytes[..take]);
                    *len += take;
                    bytes = &bytes[take..];
                    if *len >= 2 && *len == head_len(&head[..*len]) {
                        let (remaining, opcode) = parse_head(&head[..*len]);
                        self.state = State::Payload { remaining, opcode };
                        if remaining == 0 {
                            self.frame_ended(opcode);
                        }
                    }
                }
                State::Payload { remaining, opcode } => {
                    let take =
                        usize::try_from(*remaining).map_or(bytes.len(), |r| r.min(bytes.len()));
                    *remaining -= take as u64;
                    bytes = &bytes[take..];
                    if *remaining == 0 {
                        let opcode = *opcode;
                        self.frame_ended(opcode);
                    }
                }
            }
        }
    }

    fn frame_ended(&mut self, opcode: u8) {
        if opcode == CLOSE {
            self.close_seen = true;
        }
        self.state = State::Head {
            head: [0; MAX_HEAD],
            len: 0,
        };
    }

    /// Whether the bytes so far end exactly at the end of a frame.
    pub(super) fn at_boundary(&self) -> bool {
        matches!(self.state, State::Head { len: 0, .. })
    }

    /// How many bytes may be read without passing the end of the current frame (at least 1;
    /// at a boundary, the smallest head).
    pub(super) fn to_boundary(&self) -> usize {
        match &self.state {
            State::Head { head, len } => head_len(&head[..*len]) - *len,
            State::Payload { remaining, .. } => usize::try_from(*remaining).unwrap_or(usize::MAX),
        }
    }

    /// Whether a complete Close frame has passed.
    pub(super) fn close_seen(&self) -> bool {
        self.close_seen
    }
}

/// Status codes the proxy closes sessions with (RFC 6455 §7.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseCode {
    /// 1001: the proxy is going away (drain), or the session's time is up.
    GoingAway,
    /// 1008: the session's token no longer allows it (revoked, superseded, deleted, expired).
    PolicyViolation,
}

impl CloseCode {
    pub(crate) fn as_u16(self) -> u16 {
        match self {
            Self::GoingAway => 1001,
            Self::PolicyViolation => 1008,
        }
    }
}

/// A Close frame with `code` and `reason` (at most 123 bytes, longer is cut), from the server
/// (unmasked) or, with `mask`, from the client side (masked with that key, as RFC 6455
/// requires of every client frame).
pub(super) fn close_frame(code: CloseCode, reason: &str, mask: Option<[u8; 4]>) -> Vec<u8> {
    let reason = &reason.as_bytes()[..reason.len().min(123)];
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.as_u16().to_be_bytes());
    payload.extend_from_slice(reason);
    // At most 125 bytes: the 7-bit length.
    let length = u8::try_from(payload.len()).unwrap_or(125);
    let mut frame = Vec::with_capacity(6 + payload.len());
    frame.push(0x80 | CLOSE);
    match mask {
        None => {
            frame.push(length);
            frame.extend_from_slice(&payload);
        }
        Some(key) => {
            frame.push(0x80 | length);
            frame.extend_from_slice(&key);
            frame.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
        }
    }
    frame
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

    use super::*;

    /// Encodes a frame as tungstenite writes it.
    fn encoded(opcode: OpCode, payload: Vec<u8>, mask: Option<[u8; 4]>, rsv1: bool) -> Vec<u8> {
        let header = FrameHeader {
            is_final: true,
            rsv1,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
        };
        let frame = Frame::from_payload(header, payload.into());
        let mut out = Vec::new();
        frame.format(&mut out).expect("format");
        out
    }

    fn opcode(code: u8) -> OpCode {
        match code {
            0 => OpCode::Data(Data::Binary),
            1 => OpCode::Data(Data::Text),
            _ => OpCode::Control(
                tokio_tungstenite::tungstenite::protocol::frame::coding::Control::Ping,
            ),
        }
    }

    proptest! {
        /// Fed in any pieces, the tracker is at a boundary exactly where a frame ended.
        #[test]
        fn boundaries_are_where_frames_end(
            frames in prop::collection::vec(
                (0u8..3, prop_oneof![0usize..126, 126usize..70_000], any::<bool>(), any::<bool>()),
                1..6,
            ),
            cuts in prop::collection::vec(1usize..5000, 1..40),
        ) {
            let mut stream = Vec::new();
            let mut ends = Vec::new();
            for (code, len, masked, rsv1) in frames {
                let mask = masked.then_some([1, 2, 3, 4]);
                stream.extend(encoded(opcode(code), vec![0x5a; len], mask, rsv1));
                ends.push(stream.len());
            }
            let mut frames = Frames::default();
            let mut at = 0;
            let mut cuts = cuts.into_iter().cycle();
            while at < stream.len() {
                // Never past the next boundary, as the closing tunnel reads.
                let step = cuts.next().unwrap_or(1).min(stream.len() - at);
                let end = at + step;
                let next_end = ends.iter().copied().find(|e| *e > at).unwrap_or(stream.len());
                let bounded = end.min(at + frames.to_boundary());
                prop_assert!(at + frames.to_boundary() <= next_end, "to_boundary overshoots");
                frames.feed(&stream[at..bounded]);
                at = bounded;
                prop_assert_eq!(frames.at_boundary(), ends.contains(&at), "at {}", at);
            }
            prop_assert!(frames.at_boundary());
        }
    }

    #[test]
    fn a_close_frame_is_seen_once_complete() {
        let close = encoded(
            OpCode::Control(
                tokio_tungstenite::tungstenite::protocol::frame::coding::Control::Close,
            ),
            vec![0x03, 0xe8, b'b', b'y', b'e'],
            Some([9, 9, 9, 9]),
            false,
        );
        let mut frames = Frames::default();
        frames.feed(&close[..close.len() - 1]);
        assert!(!frames.close_seen());
        frames.feed(&close[close.len() - 1..]);
        assert!(frames.close_seen());
        assert!(frames.at_boundary());
    }

    #[test]
    fn close_frames_parse_as_tungstenite_reads_them() {
        for mask in [None, Some([0xde, 0xad, 0xbe, 0xef])] {
            let bytes = close_frame(CloseCode::PolicyViolation, "token revoked", mask);
            let mut cursor = std::io::Cursor::new(bytes.as_slice());
            let mut frame = FrameHeader::parse(&mut cursor)
                .expect("parses")
                .expect("complete head");
            assert_eq!(frame.0.mask, mask);
            let position = usize::try_from(cursor.position()).expect("small");
            let mut payload = bytes[position..].to_vec();
            assert_eq!(payload.len() as u64, frame.1);
            if let Some(key) = frame.0.mask.take() {
                for (byte, k) in payload.iter_mut().zip(key.iter().cycle()) {
                    *byte ^= k;
                }
            }
            assert_eq!(&payload[..2], &1008u16.to_be_bytes());
            assert_eq!(&payload[2..], b"token revoked");
            let mut frames = Frames::default();
            frames.feed(&bytes);
            assert!(frames.close_seen() && frames.at_boundary());
        }
        assert_eq!(
            close_frame(CloseCode::GoingAway, &"x".repeat(300), None).len(),
            127
        );
    }
}
