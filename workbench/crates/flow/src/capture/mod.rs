//! Reading packet captures: classic pcap (either byte order, micro- or nanosecond timestamps)
//! and pcapng (several interfaces, each with its own link type and timestamp resolution).
//!
//! Built on `pcap-parser`'s streaming readers: memory stays at one bounded buffer whatever the
//! file size; the buffer grows only when a single record is larger than it, and never beyond
//! [`MAX_RECORD_BYTES`] (a length field above that is corruption, not a packet).
//!
//! A damaged file yields every packet before the damage and then one error naming the file, the
//! byte offset of the damaged record and its packet number. With `lenient` the reader skips what
//! it can instead (a truncated final record ends the file; a corrupt record is skipped by
//! resynchronising on the next plausible record) and counts the skipped places in
//! [`CaptureReader::skipped`]; packets of an interface whose link type it does not decode are
//! not damage and are counted apart ([`CaptureReader::unsupported_skips`]).

mod error;
pub use error::{CaptureError, RecordFault};
mod interfaces;
pub use interfaces::{several_interfaces_warning, InterfaceCount, InterfaceSelector, UnsupportedSkip};
mod link;
mod not_capture;
pub use not_capture::{compressed, compressed_message, is_model_file, model_given_as_data, read_head};
mod pcap;
mod pcapng;
pub mod unique;
pub mod wire;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError, PcapNGReader};

use interfaces::Interfaces;

pub use link::{LinkType, UnsupportedLinkType, SYNTH_DST_MAC, SYNTH_SRC_MAC};

/// Bytes the reader buffers at first; enough for any record under the usual 262,144-byte snap
/// length, so growth is the exception.
const INITIAL_BUFFER_BYTES: usize = 256 * 1024;
/// The largest record accepted (pcapng's block limit in Wireshark is 16 MiB too): a length field
/// above it is taken as corruption rather than honoured with an allocation.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// One captured packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// 1-based packet number, as Wireshark numbers frames.
    pub index: u64,
    /// Capture timestamp in nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub link_type: LinkType,
    /// The captured bytes (link-layer header included; shorter than the wire length when the
    /// capture used a snap length).
    pub data: Vec<u8>,
    /// Length on the wire as the capture recorded it, link-layer header included.
    pub wire_len_bytes: u32,
}

impl Packet {
    /// Parses the packet with the shared (kernel) parser, starting at the right header for its
    /// link type.
    pub fn parse(&self) -> Result<shared::ParsedPacket, shared::ParseError> {
        self.link_type.parse(&self.data, self.wire_len_bytes)
    }

    /// The packet's captured bytes as an Ethernet frame (see [`LinkType::to_ethernet_frame`]);
    /// replay sends [`Packet::wire_frame`], which pads a cut record back to its wire length.
    pub fn to_ethernet_frame(&self) -> Vec<u8> {
        self.link_type.to_ethernet_frame(&self.data)
    }
}

/// A packet as a format module hands it over (the reader adds the packet number).
struct RawPacket {
    ts_ns: u64,
    link_type: LinkType,
    data: Vec<u8>,
    wire_len_bytes: u32,
}

/// What one parsed block means.
enum BlockOutcome {
    Packet(RawPacket),
    /// A block that carries no packet (headers, statistics, name resolution).
    NotAPacket,
    /// A packet record that cannot be interpreted; the reason.
    Unreadable(String),
    /// A packet on an interface whose link type is not decoded (file-wide interface id).
    Unsupported {
        interface: u32,
        detail: String,
    },
    /// A packet on an interface the reader was told not to keep.
    NotKept,
}

/// The two container formats: what differs between them is how long the record at the head of
/// the buffer claims to be, what a plausible record start looks like, and what a block means.
enum Format {
    Pcap(pcap::State),
    PcapNg(pcapng::State),
}

impl Format {
    fn head_len(&self, data: &[u8]) -> Result<Option<usize>, String> {
        match self {
            Format::Pcap(s) => s.head_len(data),
            Format::PcapNg(s) => s.head_len(data),
        }
    }

    fn plausible_start(&self, data: &[u8]) -> Option<bool> {
        match self {
            Format::Pcap(s) => s.plausible_start(data),
            Format::PcapNg(s) => s.plausible_start(data),
        }
    }

    /// Records start on 4-byte boundaries in pcapng, anywhere in pcap.
    fn resync_step(&self) -> usize {
        match self {
            Format::Pcap(_) => 1,
            Format::PcapNg(_) => 4,
        }
    }

    fn on_block(&mut self, block: PcapBlockOwned<'_>, interfaces: &mut Interfaces) -> BlockOutcome {
        match self {
            Format::Pcap(s) => s.on_block(block, interfaces),
            Format::PcapNg(s) => s.on_block(block, interfaces),
        }
    }
}

/// A `Read` that keeps the last I/O error, because pcap-parser reduces every read failure to
/// `ReadError` and the user deserves the operating system's reason.
struct KeepError {
    file: File,
    last_error: Arc<Mutex<Option<String>>>,
}

impl Read for KeepError {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf).inspect_err(|e| {
            if let Ok(mut slot) = self.last_error.lock() {
                *slot = Some(e.to_string());
            }
        })
    }
}

/// Streaming iterator over the packets of one capture file.
pub struct CaptureReader {
    file: String,
    reader: Box<dyn PcapReaderIterator + Send>,
    format: Format,
    last_error: Arc<Mutex<Option<String>>>,
    lenient: bool,
    packets_seen: u64,
    skipped: u64,
    resyncing: bool,
    done: bool,
    interfaces: Interfaces,
}

/// Opens a capture; the format is recognised from the first four bytes.
pub fn open(path: &Path, lenient: bool) -> Result<CaptureReader, CaptureError> {
    let name = path.display().to_string();
    let file_error = |message: String| CaptureError::File {
        file: name.clone(),
        message,
    };
    let mut file = File::open(path).map_err(|e| file_error(format!("cannot open: {e}")))?;
    // An empty or cut-off file is named by its size, as the table reader names an empty table
    // ("cannot read the 4-byte format magic: failed to fill whole buffer" says neither).
    let size = file.metadata().map(|m| m.len()).ok();
    if size == Some(0) {
        return Err(file_error(
            "file is empty (0 bytes); give a pcap or pcapng capture (`tcpdump -w FILE.pcap`)".into(),
        ));
    }
    let mut magic = [0u8; 4];
    if let Some(n @ 1..=3) = size {
        return Err(file_error(format!(
            "file is only {n} bytes, shorter than the 4-byte format magic a pcap or pcapng capture \
             starts with (cut off?); give the complete capture"
        )));
    }
    file.read_exact(&mut magic)
        .map_err(|e| file_error(format!("cannot read the 4-byte format magic: {e}")))?;
    // A capture shorter than its file header: cut off before the first packet.
    let header_bytes = match capture_header_bytes(magic) {
        Some((what, need)) => size.filter(|&n| n < need).map(|n| (what, need, n)),
        None => None,
    };
    if let Some((what, need, n)) = header_bytes {
        return Err(file_error(format!(
            "file is only {n} bytes, shorter than the {need}-byte {what} (cut off?); give the \
             complete capture"
        )));
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| file_error(format!("cannot seek back to byte 0: {e}")))?;
    let last_error = Arc::new(Mutex::new(None));
    let source = KeepError {
        file,
        last_error: last_error.clone(),
    };
    let header_error = |what: &str, e: PcapError<&[u8]>| {
        file_error(format!("{what} at byte 0 is unreadable: {}", describe(&e)))
    };
    let mut interfaces = Interfaces::new(&name, u32::from_le_bytes(magic) != 0x0a0d_0d0a);
    let (reader, format): (Box<dyn PcapReaderIterator + Send>, Format) = match u32::from_le_bytes(magic) {
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0xa1b2_cd34 | 0x34cd_b2a1 => {
            let mut reader = LegacyPcapReader::new(INITIAL_BUFFER_BYTES, source)
                .map_err(|e| header_error("the 24-byte pcap file header", e))?;
            let state = match reader.next() {
                Ok((len, PcapBlockOwned::LegacyHeader(header))) => {
                    let state = pcap::State::new(&header).map_err(|e| file_error(e.to_string()))?;
                    // The file's one interface, unnamed; the link type's low 16 bits (the
                    // upper ones carry FCS information).
                    interfaces.declare(None, header.network.0 as u32 & 0xffff);
                    reader.consume(len);
                    state
                }
                Ok(_) => return Err(file_error("the pcap file header was not found".into())),
                Err(e) => return Err(header_error("the pcap file header", e)),
            };
            (Box::new(reader), Format::Pcap(state))
        }
        0x0a0d_0d0a => {
            let reader = PcapNGReader::new(INITIAL_BUFFER_BYTES, source)
                .map_err(|e| header_error("the pcapng section header block", e))?;
            (Box::new(reader), Format::PcapNg(pcapng::State::default()))
        }
        // A table or a model given as a capture is named as such, with the command to run.
        _ => return Err(file_error(not_capture::describe(path, magic))),
    };
    Ok(CaptureReader {
        file: name,
        reader,
        format,
        last_error,
        lenient,
        packets_seen: 0,
        skipped: 0,
        resyncing: false,
        done: false,
        interfaces,
    })
}

/// The file header a capture with this magic starts with, and its size: pcap's fixed 24-byte
/// header, pcapng's smallest section header block (28 bytes).
fn capture_header_bytes(magic: [u8; 4]) -> Option<(&'static str, u64)> {
    match u32::from_le_bytes(magic) {
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0xa1b2_cd34 | 0x34cd_b2a1 => {
            Some(("pcap file header", 24))
        }
        0x0a0d_0d0a => Some(("pcapng section header block", 28)),
        _ => None,
    }
}

/// pcap-parser's errors in words, without the raw input bytes its `Display` prints.
fn describe(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("the block does not parse ({kind:?} check failed)")
        }
        PcapError::Incomplete(_) | PcapError::UnexpectedEof => "the file ends inside it".to_string(),
        other => other.to_string(),
    }
}

/// What the read loop decided about the head of the buffer.
enum Step {
    Yield(Packet),
    Continue,
    End,
    Fail(CaptureError),
}

impl CaptureReader {
    /// Damaged places skipped so far in lenient mode (truncated tail, corrupt stretches,
    /// unreadable packets; not packets of an unsupported link type).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Keep only the packets of the interfaces `selector` matches (`None`: every interface).
    /// Packets of the others are still numbered (packet numbers stay the file's frame numbers)
    /// and counted in [`CaptureReader::interfaces`]. A selector that matches no interface of
    /// the file ends the reading with an error listing the interfaces there are.
    pub fn keep_interface(mut self, selector: Option<InterfaceSelector>) -> Self {
        self.interfaces.select(selector);
        self
    }

    /// The interfaces declared so far, with the packets recorded on each (kept or not).
    pub fn interfaces(&self) -> Vec<InterfaceCount> {
        self.interfaces.counts()
    }

    /// Packets skipped in lenient mode because their interface's link type is not decoded, per
    /// interface (not in [`CaptureReader::skipped`]: they are not damaged).
    pub fn unsupported_skips(&self) -> Vec<UnsupportedSkip> {
        self.interfaces.unsupported_skips()
    }

    /// Bytes of the file consumed so far (progress reporting).
    pub fn bytes_read(&self) -> u64 {
        self.offset()
    }

    /// The file name used in messages.
    pub fn file_name(&self) -> &str {
        &self.file
    }

    fn record_error(&self, fault: RecordFault, offset: u64, detail: String) -> CaptureError {
        CaptureError::Record {
            file: self.file.clone(),
            fault,
            offset,
            packet: self.packets_seen + 1,
            detail,
        }
    }

    fn offset(&self) -> u64 {
        self.reader.consumed() as u64
    }

    /// Reads more of the file into the buffer. Returns false when nothing more can come (end of
    /// file), an error when reading fails or no progress is possible.
    fn refill(&mut self, need: Option<usize>) -> Result<bool, CaptureError> {
        if let Some(need) = need {
            // Only a single oversized record makes the buffer grow (a no-op when it fits), and
            // only up to the limit the caller checked.
            self.reader.grow(need);
        }
        let before = self.reader.data().len();
        if let Err(PcapError::ReadError) = self.reader.refill() {
            let reason = self
                .last_error
                .lock()
                .ok()
                .and_then(|mut slot| slot.take())
                .unwrap_or_else(|| "read error".to_string());
            return Err(CaptureError::File {
                file: self.file.clone(),
                message: format!("reading after byte {}: {reason}", self.offset()),
            });
        }
        if self.reader.reader_exhausted() {
            return Ok(false);
        }
        if self.reader.data().len() == before {
            // A full buffer that still does not hold the record: cannot happen when `need` is
            // right, but an endless loop must not be the failure mode if it ever is wrong.
            return Err(self.record_error(
                RecordFault::Corrupt,
                self.offset(),
                format!("the record does not fit the {before}-byte read buffer"),
            ));
        }
        Ok(true)
    }

    /// A corrupt record: an error in strict mode; in lenient mode, start skipping forward.
    fn corrupt(&mut self, detail: String) -> Step {
        if !self.lenient {
            return Step::Fail(self.record_error(RecordFault::Corrupt, self.offset(), detail));
        }
        if !self.resyncing {
            self.skipped += 1;
        }
        self.resyncing = true;
        let step = self.format.resync_step();
        self.reader.consume(step);
        Step::Continue
    }

    /// In lenient mode after corruption: advance until a plausible record starts.
    fn resync(&mut self) -> Result<Step, CaptureError> {
        loop {
            match self.format.plausible_start(self.reader.data()) {
                Some(true) => {
                    self.resyncing = false;
                    return Ok(Step::Continue);
                }
                Some(false) => {
                    let step = self.format.resync_step();
                    self.reader.consume(step);
                }
                None => {
                    if !self.refill(None)? {
                        // Garbage up to the end of the file; already counted as one skip.
                        return Ok(Step::End);
                    }
                }
            }
        }
    }

    fn step(&mut self) -> Result<Step, CaptureError> {
        if self.resyncing {
            if let Step::End = self.resync()? {
                return Ok(Step::End);
            }
        }
        let need = match self.format.head_len(self.reader.data()) {
            Ok(need) => need,
            Err(detail) => return Ok(self.corrupt(detail)),
        };
        if let Some(n) = need {
            if n > MAX_RECORD_BYTES {
                return Ok(self.corrupt(format!(
                    "the record claims {n} bytes, more than the {MAX_RECORD_BYTES}-byte limit"
                )));
            }
        }
        let available = self.reader.data().len();
        let offset = self.offset();
        let outcome = match self.reader.next() {
            Ok((len, block)) => {
                let outcome = self.format.on_block(block, &mut self.interfaces);
                self.reader.consume(len);
                outcome
            }
            Err(PcapError::Eof) => return Ok(Step::End),
            Err(PcapError::Incomplete(_) | PcapError::BufferTooSmall) => {
                if need.is_some_and(|n| n <= available) {
                    return Ok(self.corrupt(format!(
                        "its contents overrun its own length of {} bytes",
                        need.unwrap_or(0)
                    )));
                }
                if !self.refill(need)? {
                    if self.reader.data().is_empty() {
                        return Ok(Step::End);
                    }
                    return self.truncated(offset, need, available);
                }
                return Ok(Step::Continue);
            }
            Err(PcapError::UnexpectedEof) => return self.truncated(offset, need, available),
            Err(e) => {
                let detail = describe(&e);
                return Ok(self.corrupt(detail));
            }
        };
        match outcome {
            BlockOutcome::NotAPacket => Ok(Step::Continue),
            BlockOutcome::Packet(raw) => {
                self.packets_seen += 1;
                Ok(Step::Yield(Packet {
                    index: self.packets_seen,
                    ts_ns: raw.ts_ns,
                    link_type: raw.link_type,
                    data: raw.data,
                    wire_len_bytes: raw.wire_len_bytes,
                }))
            }
            BlockOutcome::NotKept => {
                self.packets_seen += 1;
                Ok(Step::Continue)
            }
            BlockOutcome::Unsupported { interface, detail } => {
                if self.lenient {
                    self.packets_seen += 1;
                    self.interfaces.unsupported(interface);
                    return Ok(Step::Continue);
                }
                Ok(Step::Fail(self.record_error(
                    RecordFault::UnsupportedLinkType,
                    offset,
                    detail,
                )))
            }
            BlockOutcome::Unreadable(detail) => {
                if self.lenient {
                    self.packets_seen += 1;
                    self.skipped += 1;
                    return Ok(Step::Continue);
                }
                Ok(Step::Fail(self.record_error(
                    RecordFault::Unreadable,
                    offset,
                    detail,
                )))
            }
        }
    }

    fn truncated(
        &mut self,
        offset: u64,
        need: Option<usize>,
        available: usize,
    ) -> Result<Step, CaptureError> {
        if self.lenient {
            self.skipped += 1;
            return Ok(Step::End);
        }
        let have = self.reader.data().len().max(available);
        let detail = match need {
            Some(n) => format!("the file ends {have} bytes into a record of {n} bytes"),
            None => format!("the file ends {have} bytes into a record header"),
        };
        Ok(Step::Fail(self.record_error(
            RecordFault::Truncated,
            offset,
            detail,
        )))
    }
}

impl Iterator for CaptureReader {
    type Item = Result<Packet, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.step() {
                Ok(Step::Yield(packet)) => return Some(Ok(packet)),
                Ok(Step::Continue) => {}
                Ok(Step::End) => {
                    self.done = true;
                    // Only now is every interface declared (a block may declare one late).
                    if let Some(message) = self.interfaces.unmatched() {
                        return Some(Err(CaptureError::File {
                            file: self.file.clone(),
                            message,
                        }));
                    }
                }
                Ok(Step::Fail(e)) | Err(e) => {
                    // One error, then the iterator is finished: what follows damage is not
                    // trustworthy without resynchronising, which is the lenient mode's job.
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// Nanoseconds from seconds and a fraction in units of `1/resolution` s, saturating instead of
/// wrapping for absurd timestamps.
fn to_ns(seconds: i128, fraction: u128, resolution: u128) -> u64 {
    let frac_ns = (fraction * 1_000_000_000).checked_div(resolution).unwrap_or(0) as i128;
    let ns = seconds * 1_000_000_000 + frac_ns;
    ns.clamp(0, u64::MAX as i128) as u64
}
