//! [`Chain`]: an error and every cause under it on one line (`a: b: c`), for logs and for the
//! messages people read, since an error's own message never repeats its source; and
//! [`Disposition`], what every edge's errors say of trying again.

use std::error::Error;
use std::fmt;

/// Displays an error followed by its sources, separated by `: `.
pub struct Chain<'a>(pub &'a dyn Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

/// What the caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// A passing fault: try again with backoff.
    Retry,
    /// Waiting will not help until something changes (a new commit, new configuration).
    Stalled,
}
