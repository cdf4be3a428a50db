//! Reader of a BPF ring buffer map (BPF_MAP_TYPE_RINGBUF), following the kernel's protocol
//! (kernel/bpf/ringbuf.c; libbpf's `ringbuf__consume` reads the same way).
//!
//! Written by hand instead of aya's `RingBuf` because aya 0.13.1 (the current release) starts its
//! cached producer position at 0. A reader opened on a pinned ring that an earlier reader has
//! consumed (consumer position not 0) then reads past the producer: zero-length or stale
//! records, each moving the shared consumer position further beyond the producer, so the ring
//! stays broken for every later reader. That is aya issue 1309, fixed upstream in commit
//! 17171647 after the release; `workbench live` and the TUI open the probe's pinned event ring
//! once per run, so every second run met it. Replace this module with aya's reader once a
//! release carries the fix (the kernel test `live_stream` checks a second reader).
//!
//! Layout (mmap of the map's fd): page 0 holds the consumer position (read-write); from page 1,
//! the producer position page, then the data pages mapped twice in a row, so a record that wraps
//! around the end reads as one contiguous slice. Each record: an 8-byte header (u32 length with
//! the busy and discard bits, u32 page offset), the data, padded to 8 bytes.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use aya::maps::MapData;

const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;
const HEADER_BYTES: usize = 8;

/// Failure to map a ring buffer into this process.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("reading the ring buffer's size")]
    Info(#[source] aya::maps::MapError),
    #[error("the ring buffer's size {0} bytes is not a power of two")]
    Size(usize),
    #[error("mapping the ring buffer's {what} into memory")]
    Map {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// One mapping, unmapped on drop.
struct Mapping {
    ptr: *mut libc::c_void,
    len_bytes: usize,
}

impl Mapping {
    fn new(
        fd: i32,
        len_bytes: usize,
        prot: i32,
        offset_bytes: usize,
        what: &'static str,
    ) -> Result<Self, RingError> {
        // SAFETY: a fresh shared mapping of a BPF ring buffer fd at the offsets the kernel
        // documents; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len_bytes,
                prot,
                libc::MAP_SHARED,
                fd,
                offset_bytes as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(RingError::Map {
                what,
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(Mapping { ptr, len_bytes })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr and len are the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.ptr, self.len_bytes) };
    }
}

/// A consumer of one ring buffer (one reader at a time per ring, as the kernel expects).
pub struct Ring {
    consumer: Mapping,
    producer: Mapping,
    page_bytes: usize,
    mask: usize,
    /// Keeps the map's fd open for as long as it is mapped.
    _map: MapData,
}

// SAFETY: the mappings are owned by this value and only touched through &mut self.
unsafe impl Send for Ring {}

impl Ring {
    pub fn open(map: MapData) -> Result<Self, RingError> {
        let size_bytes = map.info().map_err(RingError::Info)?.max_entries() as usize;
        if !size_bytes.is_power_of_two() {
            return Err(RingError::Size(size_bytes));
        }
        // SAFETY: sysconf has no preconditions.
        let page_bytes = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let fd = map.fd().as_fd().as_raw_fd();
        let consumer = Mapping::new(
            fd,
            page_bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            0,
            "consumer page",
        )?;
        let producer = Mapping::new(
            fd,
            page_bytes + 2 * size_bytes,
            libc::PROT_READ,
            page_bytes,
            "producer page and data",
        )?;
        Ok(Ring {
            consumer,
            producer,
            page_bytes,
            mask: size_bytes - 1,
            _map: map,
        })
    }

    fn consumer_pos(&self) -> &AtomicUsize {
        // SAFETY: the first word of the consumer page is the kernel's `consumer_pos`
        // (unsigned long), page-aligned, alive as long as the mapping.
        unsafe { &*(self.consumer.ptr as *const AtomicUsize) }
    }

    fn producer_pos(&self) -> usize {
        // SAFETY: the first word of the producer page is `producer_pos`; the kernel stores it
        // with release semantics after the record headers, so acquire makes them visible.
        unsafe { &*(self.producer.ptr as *const AtomicUsize) }.load(Ordering::Acquire)
    }

    /// Drops every record waiting (what earlier traffic left): the consumer position moves to the
    /// producer's. Returns the bytes skipped.
    pub fn skip_to_end(&mut self) -> usize {
        let (cons, prod) = (self.consumer_pos().load(Ordering::Acquire), self.producer_pos());
        self.consumer_pos().store(prod, Ordering::Release);
        prod.wrapping_sub(cons)
    }

    /// Hands every committed record waiting to `each`, in order, and releases its space; stops at
    /// a record still being written (busy) or after `max_records`. Returns how many were handed.
    pub fn consume(&mut self, max_records: usize, mut each: impl FnMut(&[u8])) -> usize {
        let mut cons = self.consumer_pos().load(Ordering::Acquire);
        let mut prod = self.producer_pos();
        let mut handed = 0;
        while handed < max_records {
            if cons == prod {
                prod = self.producer_pos();
                if cons == prod {
                    break;
                }
            }
            let offset = cons & self.mask;
            // SAFETY: offset < size, and the data pages follow the producer page twice over, so
            // the header and a record of up to `size` bytes from any offset lie in the mapping.
            let data = unsafe { (self.producer.ptr as *const u8).add(self.page_bytes) };
            // Records start at multiples of 8 bytes from the page-aligned data pages.
            #[allow(clippy::cast_ptr_alignment)]
            let header = unsafe { &*data.add(offset).cast::<AtomicU32>() }.load(Ordering::Acquire);
            if header & BUSY_BIT != 0 {
                break;
            }
            let len_bytes = (header & !(BUSY_BIT | DISCARD_BIT)) as usize;
            if header & DISCARD_BIT == 0 {
                // SAFETY: as above; the kernel never commits a record longer than the ring.
                let record = unsafe {
                    std::slice::from_raw_parts(data.add(offset + HEADER_BYTES), len_bytes.min(self.mask + 1))
                };
                each(record);
                handed += 1;
            }
            cons += (HEADER_BYTES + len_bytes).next_multiple_of(8);
            // Released after the record is read: the kernel may then reuse its space.
            self.consumer_pos().store(cons, Ordering::Release);
        }
        handed
    }
}
