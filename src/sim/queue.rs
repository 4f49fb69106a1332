//! The event queue: ordered by `(time, class, insertion sequence)`, so equal
//! times keep a defined order — metrics of a tick are generated before the
//! engine reads them at that instant. The one pending tick waits beside the
//! heap (it is popped every tick, the heap's events far more rarely).

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
    /// The pending tick, kept out of the heap: there is at most one, and it
    /// comes first among events at its time, so it needs no sifting.
    tick: Option<SimTime>,
}

impl Queue {
    pub fn clear(&mut self) {
        self.heap.clear();
        self.seq = 0;
        self.tick = None;
    }
    /// Queues `e` at `t`. A tick replaces any tick still pending (a trial
    /// has one at a time).
    pub fn push(&mut self, t: SimTime, e: Event) {
        if e == Event::Tick {
            debug_assert!(self.tick.is_none(), "two ticks pending");
            self.tick = Some(t);
            return;
        }
        self.seq += 1;
        self.heap.push(Reverse((t, e, self.seq)));
    }
    /// True when the pending tick comes before the heap's first event.
    fn tick_first(&self) -> Option<SimTime> {
        let t = self.tick?;
        match self.heap.peek() {
            Some(Reverse((h, _, _))) if *h < t => None,
            _ => Some(t),
        }
    }
    /// The next event, without removing it.
    pub fn peek(&self) -> Option<(SimTime, Event)> {
        if let Some(t) = self.tick_first() {
            return Some((t, Event::Tick));
        }
        self.heap.peek().map(|Reverse((t, e, _))| (*t, *e))
    }
    pub fn pop(&mut self) -> Option<(SimTime, Event)> {
        if let Some(t) = self.tick_first() {
            self.tick = None;
            return Some((t, Event::Tick));
        }
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

    #[test]
    fn the_tick_beside_the_heap_pops_as_if_it_were_in_it() {
        // Against a plain heap of (time, class, sequence), over random
        // schedules with one tick pending at a time, as the trial loop has it.
        let mut rng = crate::sim::rng::stream(5, crate::sim::rng::Stream::Fleet);
        let mut u = |n: u64| (crate::sim::rng::uniform(&mut rng) * n as f64) as u64;
        for _ in 0..200 {
            let (mut q, mut reference, mut seq) = (Queue::default(), BinaryHeap::new(), 0u64);
            let mut tick = SimTime(60);
            q.push(tick, Event::Tick);
            reference.push(Reverse((tick, Event::Tick, 0)));
            for _ in 0..100 {
                for _ in 0..u(3) {
                    let e = if u(2) == 0 { Event::EngineWake } else { Event::FaultOnset };
                    let t = SimTime(tick.0.saturating_sub(60) + 30 * u(5));
                    seq += 1;
                    q.push(t, e);
                    reference.push(Reverse((t, e, seq)));
                }
                let got = q.pop();
                let want = reference.pop().map(|Reverse((t, e, _))| (t, e));
                assert_eq!(got, want);
                if got.map(|g| g.1) == Some(Event::Tick) {
                    tick = SimTime(tick.0 + 60);
                    q.push(tick, Event::Tick);
                    reference.push(Reverse((tick, Event::Tick, 0)));
                }
            }
        }
    }
}
