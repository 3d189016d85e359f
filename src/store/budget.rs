//! Room for objects' bytes: a memory budget and a spool budget shared by the objects in flight,
//! so that concurrent large objects wait for each other instead of running the function out of
//! memory or disk. A [`Sink`] is reserved room; a [`Buffer`] the filled bytes; a [`Room`]
//! (`room`) room that grows as bytes of unknown size are decoded.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

mod room;

pub use room::{Full, Holding, Room};

/// An object's bytes, counted against a [`Budget`] until dropped.
#[derive(Debug)]
pub struct Buffer {
    data: Data,
    reservation: Option<OwnedSemaphorePermit>,
}

#[derive(Debug)]
enum Data {
    Memory(Vec<u8>),
    // The file behind the map is already unlinked: it disappears with the map, or with the
    // process if it crashes.
    Mapped(memmap2::Mmap),
}

impl Buffer {
    /// Bytes that count against no budget (local files, tests).
    pub fn unbudgeted(bytes: Vec<u8>) -> Buffer {
        Buffer {
            data: Data::Memory(bytes),
            reservation: None,
        }
    }

    /// Whether the bytes live in a memory-mapped local file rather than on the heap.
    pub fn is_spooled(&self) -> bool {
        matches!(self.data, Data::Mapped(_))
    }
}

impl AsRef<[u8]> for Buffer {
    fn as_ref(&self) -> &[u8] {
        match &self.data {
            Data::Memory(v) => v,
            Data::Mapped(m) => m,
        }
    }
}

/// Room for one object's bytes, reserved from a [`Budget`]: a zeroed heap buffer or a
/// writable map of a fresh temporary file. Parts of the object can be written into
/// [`Sink::as_mut_slice`] in any order, which lets ranged GETs run in parallel.
#[derive(Debug)]
pub struct Sink {
    data: SinkData,
    reservation: OwnedSemaphorePermit,
}

#[derive(Debug)]
enum SinkData {
    Memory(Vec<u8>),
    Mapped(memmap2::MmapMut),
}

impl Sink {
    /// The number of bytes it holds room for.
    pub fn len(&self) -> usize {
        match &self.data {
            SinkData::Memory(v) => v.len(),
            SinkData::Mapped(m) => m.len(),
        }
    }

    /// True when it holds room for no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole object's room, to be filled.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match &mut self.data {
            SinkData::Memory(v) => v,
            SinkData::Mapped(m) => m,
        }
    }

    /// The filled bytes, ready to scan.
    pub fn finish(self) -> io::Result<Buffer> {
        let data = match self.data {
            SinkData::Memory(v) => Data::Memory(v),
            SinkData::Mapped(m) => Data::Mapped(m.make_read_only()?),
        };
        Ok(Buffer {
            data,
            reservation: Some(self.reservation),
        })
    }
}

/// Bounds the bytes of all objects held at once. Objects up to the memory limit are read into
/// memory; larger ones, up to the spool limit, into unlinked files in the spool directory
/// (Lambda's ephemeral storage), which are scanned through a memory map. Concurrent
/// downloads of large objects wait for each other instead of exhausting memory or disk.
#[derive(Debug, Clone)]
pub struct Budget {
    memory: Bytes,
    spool: Option<(PathBuf, Bytes)>,
}

/// A byte count shared through a semaphore of KiB units.
#[derive(Debug, Clone)]
struct Bytes {
    limit: u64,
    /// The semaphore's permits in all.
    units: usize,
    kib: Arc<Semaphore>,
}

/// The KiB units that hold `size` bytes (at least one).
fn units(size: u64) -> usize {
    usize::try_from(size.div_ceil(1024).max(1)).unwrap_or(usize::MAX)
}

impl Bytes {
    fn new(limit: u64) -> Bytes {
        let units = limit.div_ceil(1024).min(Semaphore::MAX_PERMITS as u64) as usize;
        Bytes {
            limit,
            units,
            kib: Arc::new(Semaphore::new(units)),
        }
    }

    /// `units` more, added to `permit`, if they are free now.
    fn try_add(&self, permit: &mut Option<OwnedSemaphorePermit>, units: usize) -> bool {
        let Ok(more) = u32::try_from(units) else {
            return false;
        };
        match self.kib.clone().try_acquire_many_owned(more) {
            Ok(more) => {
                match permit {
                    Some(held) => held.merge(more),
                    None => *permit = Some(more),
                }
                true
            }
            Err(_) => false,
        }
    }

    async fn reserve(&self, size: u64) -> Option<OwnedSemaphorePermit> {
        if size > self.limit {
            return None;
        }
        let units = u32::try_from(size.div_ceil(1024).max(1)).ok()?;
        self.kib.clone().acquire_many_owned(units).await.ok()
    }
}

/// Memory held for bytes that live outside a [`Buffer`] (archive members while they are
/// scanned), or why it could not be.
#[derive(Debug)]
pub enum Hold {
    /// Held until dropped.
    Held(OwnedSemaphorePermit),
    /// More than the memory budget as a whole.
    TooLarge,
    /// Not free now: other objects hold it.
    Busy,
}

impl Budget {
    /// Holds `size` bytes of the memory budget if they are free now; never waits, as the
    /// caller may already hold memory that others wait for.
    pub fn try_hold(&self, size: u64) -> Hold {
        if size > self.memory.limit {
            return Hold::TooLarge;
        }
        let Ok(units) = u32::try_from(size.div_ceil(1024).max(1)) else {
            return Hold::TooLarge;
        };
        match self.memory.kib.clone().try_acquire_many_owned(units) {
            Ok(permit) => Hold::Held(permit),
            Err(_) => Hold::Busy,
        }
    }

    /// Objects of up to `memory` bytes in memory, and no spooling.
    pub fn memory(memory: u64) -> Budget {
        Budget {
            memory: Bytes::new(memory),
            spool: None,
        }
    }

    /// Also spool objects of up to `limit` bytes to files in `dir`.
    pub fn with_spool(self, dir: PathBuf, limit: u64) -> Budget {
        Budget {
            spool: Some((dir, Bytes::new(limit))),
            ..self
        }
    }

    /// The largest object held in memory.
    pub fn memory_limit(&self) -> u64 {
        self.memory.limit
    }

    /// The largest object spooled to local storage, if spooling is on.
    pub fn spool_limit(&self) -> Option<u64> {
        self.spool.as_ref().map(|(_, b)| b.limit)
    }

    /// Waits until `size` bytes are free in memory or, for larger objects, in the spool
    /// directory, and returns room for them; `None` when `size` exceeds every limit.
    pub async fn reserve(&self, size: u64) -> io::Result<Option<Sink>> {
        if size <= self.memory.limit {
            let Some(reservation) = self.memory.reserve(size).await else {
                return Ok(None);
            };
            let len = usize::try_from(size).map_err(io::Error::other)?;
            return Ok(Some(Sink {
                data: SinkData::Memory(vec![0; len]),
                reservation,
            }));
        }
        let Some((dir, spool)) = &self.spool else {
            return Ok(None);
        };
        let Some(reservation) = spool.reserve(size).await else {
            return Ok(None);
        };
        let file = tempfile::tempfile_in(dir)?;
        file.set_len(size)?;
        Ok(Some(Sink {
            data: SinkData::Mapped(map_mut(&file)?),
            reservation,
        }))
    }
}

/// Maps a spool file for writing.
#[allow(unsafe_code)]
fn map_mut(file: &File) -> io::Result<memmap2::MmapMut> {
    // SAFETY: a map is undefined behaviour if the file changes size or content behind it.
    // This one comes from `tempfile_in`, which unlinks it at once (or never links it), so no
    // other process can open it, and this module never truncates it while it is mapped.
    unsafe { memmap2::MmapMut::map_mut(file) }
}
