//! Room that grows: bytes whose size is known only once they are decoded (an archive member,
//! an object's decoded `Content-Encoding`) are held against the budget before they are kept,
//! in memory while the memory budget has room for them beside what the same object holds
//! already, else in a spool file; and when neither can ever hold them, the caller is told so
//! rather than asked to wait for room that will never come.

use std::fs::File;
use std::io::{self, Write};

use tokio::sync::OwnedSemaphorePermit;

use super::{Budget, Buffer, Bytes, Data, Hold, map_mut, units};

/// What one object's inspection holds already (its own bytes, and the members it is inside
/// of), in KiB units of each budget: room for a member is room beside these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holding {
    memory: usize,
    spool: usize,
}

impl Holding {
    /// What `buffer` holds.
    pub fn of(buffer: &Buffer) -> Holding {
        let units = buffer.reservation.as_ref().map_or(0, |p| p.num_permits());
        match buffer.data {
            Data::Memory(_) => Holding {
                memory: units,
                spool: 0,
            },
            Data::Mapped(_) => Holding {
                memory: 0,
                spool: units,
            },
        }
    }

    /// What `hold` holds (of memory).
    pub fn of_hold(hold: &Hold) -> Holding {
        match hold {
            Hold::Held(permit) => Holding {
                memory: permit.num_permits(),
                spool: 0,
            },
            Hold::TooLarge | Hold::Busy => Holding::default(),
        }
    }

    /// This and `other` together.
    pub fn plus(self, other: Holding) -> Holding {
        Holding {
            memory: self.memory.saturating_add(other.memory),
            spool: self.spool.saturating_add(other.spool),
        }
    }

    /// In bytes, memory and spool together.
    pub fn bytes(self) -> u64 {
        (self.memory.saturating_add(self.spool) as u64).saturating_mul(1024)
    }
}

/// Why a [`Room`] could not grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Full {
    /// Never, whatever other objects do: `needed` bytes are more than the memory budget
    /// (`memory` bytes in all) and the spool (`spool` bytes in all, if on) can hold beside
    /// what the same object holds already.
    Never {
        /// The bytes the room needed.
        needed: u64,
        /// The memory budget, in all.
        memory: u64,
        /// The spool budget, in all, if spooling is on.
        spool: Option<u64>,
    },
    /// Not now: other objects hold the room it needs.
    Busy {
        /// The bytes the room needed.
        needed: u64,
    },
}

/// Bytes held against a [`Budget`] as they come.
#[derive(Debug)]
pub struct Room {
    budget: Budget,
    beside: Holding,
    data: Growing,
    permit: Option<OwnedSemaphorePermit>,
}

#[derive(Debug)]
enum Growing {
    /// On the heap; its capacity never exceeds what the permit holds.
    Memory(Vec<u8>),
    /// In an unlinked spool file.
    Spooled(File, u64),
}

impl Budget {
    /// Empty room that grows as bytes are added, beside what the same object holds.
    pub fn room(&self, beside: Holding) -> Room {
        Room {
            budget: self.clone(),
            beside,
            data: Growing::Memory(Vec::new()),
            permit: None,
        }
    }
}

impl Room {
    /// The bytes added so far.
    pub fn len(&self) -> u64 {
        match &self.data {
            Growing::Memory(v) => v.len() as u64,
            Growing::Spooled(_, len) => *len,
        }
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `bytes`, once room for them is held: in memory, or in a spool file when memory
    /// cannot hold them (now, or ever, beside what this object holds). Nothing is added when
    /// there is no room.
    pub fn extend(&mut self, bytes: &[u8]) -> Result<(), Full> {
        let needed = self.len() + bytes.len() as u64;
        let held = self.permit.as_ref().map_or(0, |p| p.num_permits() as u64);
        if let Growing::Memory(v) = &mut self.data {
            if needed <= (v.capacity() as u64).min(held.saturating_mul(1024)) {
                v.extend_from_slice(bytes);
                return Ok(());
            }
            match grow_memory(
                &self.budget.memory,
                &mut self.permit,
                self.beside,
                v,
                needed,
            ) {
                Ok(()) => {
                    v.extend_from_slice(bytes);
                    return Ok(());
                }
                Err(ever) => self.spill(needed, ever)?,
            }
        }
        self.write(needed, bytes)
    }

    /// Moves the bytes so far to a spool file, when there is one with room for `needed`
    /// bytes; `ever` says whether memory could hold them once others let go of it.
    fn spill(&mut self, needed: u64, ever: bool) -> Result<(), Full> {
        let never = Full::Never {
            needed,
            memory: self.budget.memory.limit,
            spool: self.budget.spool_limit(),
        };
        let not_now = if ever { Full::Busy { needed } } else { never };
        let Some((dir, spool)) = &self.budget.spool else {
            return Err(not_now);
        };
        if self.beside.spool.saturating_add(units(needed)) > spool.units {
            return Err(not_now);
        }
        let mut permit = None;
        if !spool.try_add(&mut permit, units(needed)) {
            return Err(Full::Busy { needed });
        }
        let Growing::Memory(kept) = &self.data else {
            return Ok(());
        };
        let busy = |_| Full::Busy { needed };
        let mut file = tempfile::tempfile_in(dir).map_err(busy)?;
        file.write_all(kept).map_err(busy)?;
        // The memory held so far goes back as the spool's is taken.
        self.data = Growing::Spooled(file, kept.len() as u64);
        self.permit = permit;
        Ok(())
    }

    /// Appends `bytes` to the spool file, room for `needed` bytes in all held first.
    fn write(&mut self, needed: u64, bytes: &[u8]) -> Result<(), Full> {
        let Some((_, spool)) = &self.budget.spool else {
            return Err(Full::Busy { needed });
        };
        let held = self.permit.as_ref().map_or(0, |p| p.num_permits());
        let want = units(needed);
        if want > held {
            if self.beside.spool.saturating_add(want) > spool.units {
                return Err(Full::Never {
                    needed,
                    memory: self.budget.memory.limit,
                    spool: Some(spool.limit),
                });
            }
            if !spool.try_add(&mut self.permit, want - held) {
                return Err(Full::Busy { needed });
            }
        }
        let Growing::Spooled(file, len) = &mut self.data else {
            return Err(Full::Busy { needed });
        };
        file.write_all(bytes).map_err(|_| Full::Busy { needed })?;
        *len += bytes.len() as u64;
        Ok(())
    }

    /// The bytes, with the room they hold until dropped.
    pub fn finish(self) -> io::Result<Buffer> {
        let data = match self.data {
            Growing::Memory(v) => Data::Memory(v),
            Growing::Spooled(file, 0) => {
                drop(file);
                Data::Memory(Vec::new())
            }
            Growing::Spooled(file, _) => Data::Mapped(map_mut(&file)?.make_read_only()?),
        };
        Ok(Buffer {
            data,
            reservation: self.permit,
        })
    }
}

/// Grows `v`'s capacity, and `permit`, to hold `needed` bytes: doubling while memory allows,
/// so that a member costs few reallocations. `Err(true)` when memory is held by others now,
/// `Err(false)` when it can never hold `needed` bytes beside what the object holds.
fn grow_memory(
    memory: &Bytes,
    permit: &mut Option<OwnedSemaphorePermit>,
    beside: Holding,
    v: &mut Vec<u8>,
    needed: u64,
) -> Result<(), bool> {
    let room = memory.units.saturating_sub(beside.memory);
    let need = units(needed);
    if need > room {
        return Err(false);
    }
    let held = permit.as_ref().map_or(0, |p| p.num_permits());
    let doubled = need.max(held.saturating_mul(2)).min(room);
    let got = [doubled, need]
        .into_iter()
        .find(|want| *want <= held || memory.try_add(permit, want - held))
        .ok_or(true)?;
    let capacity = got.max(held).saturating_mul(1024);
    // The allocation itself may fail when the process is short of memory: try later.
    v.try_reserve_exact(capacity.saturating_sub(v.len()))
        .map_err(|_| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(budget: &Budget) -> usize {
        budget.memory.units - budget.memory.kib.available_permits()
    }

    #[test]
    fn room_grows_as_bytes_come_and_never_holds_less_than_it_keeps() {
        let budget = Budget::memory(1 << 20);
        let mut room = budget.room(Holding::default());
        for _ in 0..10 {
            room.extend(&[7; 10_000]).unwrap();
            let kept = room.len() as usize;
            assert!(
                held(&budget) * 1024 >= kept,
                "{} KiB for {kept} bytes",
                held(&budget)
            );
            let Growing::Memory(v) = &room.data else {
                panic!()
            };
            assert!(
                v.capacity() <= held(&budget) * 1024,
                "no unaccounted capacity"
            );
        }
        let buffer = room.finish().unwrap();
        assert_eq!(buffer.as_ref(), &[7; 100_000][..]);
        assert_eq!(Holding::of(&buffer).memory, held(&budget));
        drop(buffer);
        assert_eq!(held(&budget), 0, "all given back");
    }

    #[test]
    fn bytes_that_memory_can_never_hold_beside_the_object_go_to_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Budget::memory(64 << 10).with_spool(dir.path().to_owned(), 1 << 20);
        let object = budget.try_hold(40 << 10);
        let mut room = budget.room(Holding::of_hold(&object));
        room.extend(&[1; 20 << 10]).unwrap();
        room.extend(&[2; 20 << 10]).unwrap();
        assert!(matches!(room.data, Growing::Spooled(..)));
        assert_eq!(held(&budget), 40, "the memory the room held went back");
        let buffer = room.finish().unwrap();
        assert!(buffer.is_spooled());
        assert_eq!(&buffer.as_ref()[..20 << 10], &[1; 20 << 10][..]);
        assert_eq!(
            Holding::of(&buffer),
            Holding {
                memory: 0,
                spool: 40
            }
        );
    }

    #[test]
    fn never_and_not_now_are_told_apart() {
        let budget = Budget::memory(64 << 10);
        let mut room = budget.room(Holding::default());
        assert_eq!(
            room.extend(&[0; 65 << 10]),
            Err(Full::Never {
                needed: 65 << 10,
                memory: 64 << 10,
                spool: None
            })
        );
        let other = budget.try_hold(60 << 10);
        let mut room = budget.room(Holding::default());
        assert_eq!(
            room.extend(&[0; 10 << 10]),
            Err(Full::Busy { needed: 10 << 10 })
        );
        assert!(room.is_empty(), "nothing kept without room");
        drop(other);
        room.extend(&[0; 10 << 10]).unwrap();
        // Beside what the object holds, 60 KiB of 64 can never be had.
        let object = budget.try_hold(10 << 10);
        let mut room = budget.room(Holding::of_hold(&object));
        assert!(matches!(
            room.extend(&[0; 60 << 10]),
            Err(Full::Never { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let small_spool = Budget::memory(64 << 10).with_spool(dir.path().to_owned(), 100 << 10);
        let mut room = small_spool.room(Holding::default());
        assert_eq!(
            room.extend(&[0; 101 << 10]),
            Err(Full::Never {
                needed: 101 << 10,
                memory: 64 << 10,
                spool: Some(100 << 10)
            })
        );
    }
}
