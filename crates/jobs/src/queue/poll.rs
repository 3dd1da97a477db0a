//! A polling interval that keeps the worker awake.
//!
//! apalis-core 1.0's `IntervalStrategy` replaces its timer when it fires but
//! does not poll the new one, so after the first task an idle worker is only
//! woken by its next heartbeat (seconds later). This strategy always leaves a
//! pending timer registered with the worker's waker.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::{PollSnapshot, PollStrategy};
use tokio::time::Sleep;

pub struct Interval {
    every: Duration,
    timer: Pin<Box<Sleep>>,
}

impl Interval {
    pub fn new(every: Duration) -> Self {
        Interval {
            every,
            timer: Box::pin(tokio::time::sleep(every)),
        }
    }
}

impl PollStrategy for Interval {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        while self.timer.as_mut().poll(cx).is_ready() {
            fired = true;
            let next = tokio::time::Instant::now() + self.every;
            self.timer.as_mut().reset(next);
        }
        if fired { Poll::Ready(Some(())) } else { Poll::Pending }
    }
}
