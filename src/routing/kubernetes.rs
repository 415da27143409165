//! `kubernetes`: blue/green through Services alone. The apex Service always selects the
//! primary, so live traffic moves when the primary rolls out at promotion; there is nothing
//! else to generate.

use serde_json::Value;

use super::{Error, RouteInput, Router};

pub(crate) struct Kubernetes;

impl Router for Kubernetes {
    fn objects(&self, _: &RouteInput<'_>) -> Result<Vec<Value>, Error> {
        Ok(Vec::new())
    }
}
