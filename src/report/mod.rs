//! `report`: telling people. Commit statuses on the forge ([`forge`]), chat alerts
//! ([`alerts`]), fledge's own metrics ([`metrics`]) and the sync's status ([`sync`]), fed by the daemon through a bounded queue
//! so that a slow or failing endpoint never holds back a rollout. Errors are logged and counted,
//! never retried forever.

pub mod alerts;
pub mod forge;
pub mod metrics;
pub mod notify;
pub mod sync;
