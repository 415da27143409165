//! sops' YAML store (`stores/yaml/store.go`, on go-yaml v3): documents read in order with
//! go-yaml v3's scalar resolution, and written as go-yaml v3 writes them with sops' indent of
//! four.
//!
//! The events come from libyaml-safer (the reader render's YAML module also builds on), which
//! does not report comments. Comments do not enter the MAC, so reading is exact without them;
//! writing a document that held comments is refused rather than written without them (see
//! [`has_comments`]).

mod emit;
mod read;

pub(in crate::sops) use emit::emit;
pub(in crate::sops) use read::{has_comments, load};
