//! The event queue: ordered by `(time, class, insertion sequence)`, so equal
//! times keep a defined order — metrics of a tick are generated before the
//! engine reads them at that instant.

use crate::time::SimTime;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// Metrics for the tick ending at this time are generated.
    Tick,
    /// The fault's onset (recorded in traces).
    FaultOnset,
    /// The engine asked to be stepped now.
    EngineWake,
}

#[derive(Debug, Default, Clone)]
pub struct Queue {
    heap: BinaryHeap<Reverse<(SimTime, Event, u64)>>,
    seq: u64,
}

impl Queue {
    pub fn clear(&mut self) {
        self.heap.clear();
        self.seq = 0;
    }
    pub fn push(&mut self, t: SimTime, e: Event) {
        self.seq += 1;
        self.heap.push(Reverse((t, e, self.seq)));
    }
    /// The next event, without removing it.
    pub fn peek(&self) -> Option<(SimTime, Event)> {
        self.heap.peek().map(|Reverse((t, e, _))| (*t, *e))
    }
    pub fn pop(&mut self) -> Option<(SimTime, Event)> {
        self.heap.pop().map(|Reverse((t, e, _))| (t, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_times_pop_ticks_first_then_in_insertion_order() {
        let mut q = Queue::default();
        q.push(SimTime(60), Event::EngineWake);
        q.push(SimTime(60), Event::Tick);
        q.push(SimTime(30), Event::EngineWake);
        q.push(SimTime(60), Event::FaultOnset);
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![
                (SimTime(30), Event::EngineWake),
                (SimTime(60), Event::Tick),
                (SimTime(60), Event::FaultOnset),
                (SimTime(60), Event::EngineWake)
            ]
        );
    }
}
