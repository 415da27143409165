//! What the daemon's tasks share: the views and counters the HTTP server reads ([`Shared`]), the
//! releases and states the writers work from ([`World`]), and the clock ([`Clock`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::ids::CommitId;
use crate::release::spec::ReleaseKey;
use crate::release::{ReleaseState, ReleaseTarget, ReleaseView};
use crate::report::metrics::Counters;

pub use crate::report::sync::{HistoryRewrite, SyncStatus};

/// State shared with the HTTP server.
#[derive(Debug, Default)]
pub struct Shared {
    /// The releases as the API shows them, by `namespace/name`.
    pub releases: Mutex<BTreeMap<ReleaseKey, ReleaseView>>,
    /// The sync's status (`/api/sync`).
    pub sync: Mutex<SyncStatus>,
    pub counters: Mutex<Counters>,
    /// The first sync succeeded (`/readyz`).
    pub ready: AtomicBool,
    /// Waiting to lead: ready as a standby replica (`/readyz`), acting on nothing.
    pub standby: AtomicBool,
    /// The repository cannot be polled (for longer than an interval): not ready (`/readyz`).
    pub source_failing: AtomicBool,
    /// Flux's Receivers of the commit, by webhook path (`/hook/…`), with their tokens.
    pub flux_receivers:
        Mutex<BTreeMap<String, (crate::flux::notification::Receiver, crate::net::Secret)>>,
}

impl Shared {
    /// The sync's status, for an update.
    pub fn sync(&self) -> MutexGuard<'_, SyncStatus> {
        self.sync.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Flux's Receivers, by webhook path, for an update.
    pub fn flux_receivers(
        &self,
    ) -> MutexGuard<'_, BTreeMap<String, (crate::flux::notification::Receiver, crate::net::Secret)>>
    {
        self.flux_receivers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The counters, for an update.
    pub fn counters(&self) -> MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The release views, for an update.
    pub fn releases(&self) -> MutexGuard<'_, BTreeMap<ReleaseKey, ReleaseView>> {
        self.releases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the first sync succeeded and the repository can still be polled.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) && !self.source_failing.load(Ordering::Relaxed)
    }

    /// Marks the repository as not (or again) polled.
    pub fn set_source_failing(&self, failing: bool) {
        self.source_failing.store(failing, Ordering::Relaxed);
    }

    /// Whether this replica waits to lead.
    pub fn is_standby(&self) -> bool {
        self.standby.load(Ordering::Relaxed)
    }

    /// Marks this replica a standby (or not).
    pub fn set_standby(&self, standby: bool) {
        self.standby.store(standby, Ordering::Relaxed);
    }

    /// Marks the first sync done.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }
}

/// What the outcome writer and the reporter work from: the releases of the applied commit and
/// their latest states.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub commit: Option<CommitId>,
    pub sync: SyncStatus,
    pub releases: BTreeMap<ReleaseKey, (Arc<ReleaseTarget>, ReleaseState)>,
    /// The image automation of the commit last rendered.
    pub images: Arc<ImageWorld>,
}

/// What image automation works from, published with each commit rendered.
#[derive(Debug, Clone, Default)]
pub struct ImageWorld {
    pub images: crate::flux::image::Images,
    /// The GitRepository fledge runs on.
    pub repository: Option<crate::flux::Id>,
}

/// Wall-clock unix seconds, sped up by the time scale.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start_unix: f64,
    start: tokio::time::Instant,
    scale: f64,
}

impl Clock {
    #[must_use]
    pub fn new(scale: f64) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Self {
            start_unix: now,
            start: tokio::time::Instant::now(),
            scale: scale.max(0.001),
        }
    }

    /// Unix seconds.
    #[must_use]
    #[expect(
        clippy::cast_possible_truncation,
        reason = "unix seconds fit an i64 for ages"
    )]
    pub fn now(&self) -> i64 {
        (self.start_unix + self.start.elapsed().as_secs_f64() * self.scale) as i64
    }

    /// Real time for a span of (scaled) time.
    #[must_use]
    pub fn real(&self, d: Duration) -> Duration {
        d.div_f64(self.scale)
    }

    /// Scaled time since the clock started (the simulated cluster's time).
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        Duration::from_secs_f64(self.start.elapsed().as_secs_f64() * self.scale)
    }
}

/// `m` locked (what a panicked holder left is used as it is).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `m` locked, unless a poll holds it: what the reconciler's own task asks never waits on a
/// remote or a registry.
pub(crate) fn lock_now<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(e) => Some(e),
        Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}
