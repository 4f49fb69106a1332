//! The state of one Prometheus alerting rule: inactive, pending while its
//! condition has held for less than `for`, firing after. The engine's alert
//! rules and the replayer's per-rule timelines both step this one machine.

use super::events::AlertTransition;
use crate::time::{SimDur, SimTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertState {
    #[default]
    Inactive,
    /// The condition has held since `since`, for less than `for`.
    Pending {
        since: SimTime,
    },
    Firing,
}

impl AlertState {
    /// One evaluation at `now` with the condition `active`, for a rule that must
    /// hold for `for_` before it fires (zero: fires at once, as a rollback
    /// trigger does). Returns the transition this evaluation made, if any; a
    /// pending alert whose condition stops holding goes back to inactive
    /// without a transition, as in Prometheus.
    pub fn observe(&mut self, now: SimTime, active: bool, for_: SimDur) -> Option<AlertTransition> {
        let (next, transition) = match (*self, active) {
            (AlertState::Inactive, true) if for_ == SimDur::ZERO => (AlertState::Firing, Some(AlertTransition::Firing)),
            (AlertState::Inactive, true) => (AlertState::Pending { since: now }, Some(AlertTransition::Pending)),
            (AlertState::Pending { since }, true) if now.since(since) >= for_ => {
                (AlertState::Firing, Some(AlertTransition::Firing))
            }
            (AlertState::Pending { .. }, false) => (AlertState::Inactive, None),
            (AlertState::Firing, false) => (AlertState::Inactive, Some(AlertTransition::Resolved)),
            (state, _) => (state, None),
        };
        *self = next;
        transition
    }

    pub fn is_firing(self) -> bool {
        self == AlertState::Firing
    }
}
