//! The reference event log: every reference taken and dropped, with its holder.

use std::collections::VecDeque;

use super::{Holder, ObjRef};

/// What happened to an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The object was created with this id; the event's holder is the fd that owns its first
    /// reference (or the creating call, when installing that fd failed).
    Created(u32),
    /// `refcnt` changed by this much.
    Ref(i8),
    /// `refcnt` and `usercnt` both changed by this much (an fd or a pin).
    RefUref(i8),
    /// The id was removed from the id space (refcnt reached zero).
    IdRemoved(u32),
    /// A prog_array's slots were emptied by its clear work.
    SlotsCleared,
    /// The object's memory was freed (after the deferred work).
    Freed,
}

/// One entry of the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The bpf() call number (1-based, counting every call) during or after which it happened.
    pub syscall: u64,
    /// The object's creation serial number (stable even after its id is gone).
    pub serial: u64,
    /// The object's id at the time (0 after removal).
    pub id: u32,
    /// The object.
    pub obj: ObjRef,
    /// What happened.
    pub kind: EventKind,
    /// Who took or dropped the reference, for `Ref`/`Uref` events.
    pub holder: Option<Holder>,
    /// `refcnt` after the event.
    pub refcnt: u64,
    /// `usercnt` after the event (maps; 0 for programs).
    pub usercnt: u64,
}

/// A bounded log of [`Event`]s: the oldest are dropped past the capacity (0 turns it off).
#[derive(Clone, Debug)]
pub struct EventLog {
    events: VecDeque<Event>,
    capacity: usize,
    dropped: u64,
}

impl EventLog {
    /// A log keeping at most `capacity` events.
    pub fn new(capacity: usize) -> Self {
        EventLog {
            events: VecDeque::new(),
            capacity,
            dropped: 0,
        }
    }

    /// Whether events are recorded at all.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    pub(crate) fn push(&mut self, ev: Event) {
        if self.events.len() == self.capacity {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(ev);
    }

    /// Events in order.
    pub fn iter(&self) -> impl Iterator<Item = &Event> {
        self.events.iter()
    }

    /// Events about the object with creation serial `serial`, in order.
    pub fn of(&self, serial: u64) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(move |e| e.serial == serial)
    }

    /// How many old events were dropped to stay within the capacity.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
