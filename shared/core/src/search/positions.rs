//! The searcher's per-position tables: room for the rows edits add, and chunk id → position.

use std::collections::HashMap;

use super::live;

/// Capacity for `n` rows of a per-position table and the rows edits add: a table that grows
/// past its capacity is copied whole (at a million chunks, under the searcher's lock), while
/// capacity never written costs no memory.
pub(super) fn with_room(n: usize) -> usize {
    n + n / 16 + 64
}

/// Chunk id → position: an array by id for stored chunks (ids are dense and only grow, so
/// this is a few bytes per chunk and a lookup is an index, which BM25 does per posting), a
/// map for the few buffer chunks.
#[derive(Default)]
pub(super) struct Positions {
    stored: Vec<u32>,
    buffers: HashMap<u64, u32>,
}

impl Positions {
    const NONE: u32 = u32::MAX;

    pub(super) fn get(&self, id: u64) -> Option<u32> {
        if id >= live::FIRST_BUFFER_ID {
            return self.buffers.get(&id).copied();
        }
        self.stored
            .get(id as usize)
            .copied()
            .filter(|&p| p != Self::NONE)
    }

    pub(super) fn insert(&mut self, id: u64, pos: u32) {
        if id >= live::FIRST_BUFFER_ID {
            self.buffers.insert(id, pos);
            return;
        }
        let id = id as usize;
        if id >= self.stored.len() {
            self.stored.resize(id + 1, Self::NONE);
        }
        self.stored[id] = pos;
    }

    pub(super) fn remove(&mut self, id: u64) -> Option<u32> {
        if id >= live::FIRST_BUFFER_ID {
            return self.buffers.remove(&id);
        }
        let slot = self.stored.get_mut(id as usize)?;
        Some(std::mem::replace(slot, Self::NONE)).filter(|&p| p != Self::NONE)
    }
}
