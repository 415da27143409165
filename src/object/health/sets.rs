//! cel-go's `sets` extension (`ext.Sets()`), which Flux's CEL environment has and the `cel`
//! crate does not: `sets.contains(a, b)` (every element of `b` is in `a`),
//! `sets.equivalent(a, b)` (each contains the other) and `sets.intersects(a, b)` (some element
//! is in both). Three functions registered through the crate's extension API, over the crate's
//! own CEL equality (`1 == 1.0` holds, as in cel-go); the language itself stays the crate's.

use cel::common::traits::Iterable;
use cel::common::types::{CelBool, LIST_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{DeclarationError, Env, ExecutionError};

/// Registers the three functions on `env`.
pub(super) fn extension(env: &mut Env) -> Result<(), DeclarationError> {
    let lists = || vec![LIST_TYPE, LIST_TYPE];
    env.add_overload(
        "sets.contains",
        "list_sets_contains_list",
        lists(),
        contains,
    )?;
    env.add_overload(
        "sets.equivalent",
        "list_sets_equivalent_list",
        lists(),
        equivalent,
    )?;
    env.add_overload(
        "sets.intersects",
        "list_sets_intersects_list",
        lists(),
        intersects,
    )?;
    Ok(())
}

/// The two list arguments.
fn lists<'a, 'b, 'v>(
    args: &'a [CowVal<'b, 'v>],
) -> Result<(&'a (dyn Iterable + 'v), &'a (dyn Iterable + 'v)), ExecutionError> {
    let list = |i: usize| {
        args.get(i)
            .ok_or_else(|| ExecutionError::invalid_argument_count(2, args.len()))?
            .as_ref()
            .as_iterable()
            .ok_or_else(|| ExecutionError::UnexpectedType {
                got: args[i].as_ref().get_type().name().to_owned(),
                want: "list".to_owned(),
            })
    };
    Ok((list(0)?, list(1)?))
}

/// Whether `list` holds an element equal to `item`.
fn has(list: &dyn Iterable, item: &dyn Val) -> bool {
    let mut items = list.iter();
    while let Some(x) = items.next() {
        if x.equals(item) {
            return true;
        }
    }
    false
}

/// Whether every element of `sub` is in `list`.
fn all_in(list: &dyn Iterable, sub: &dyn Iterable) -> bool {
    let mut items = sub.iter();
    while let Some(x) = items.next() {
        if !has(list, x) {
            return false;
        }
    }
    true
}

fn answer<'b, 'v>(b: bool) -> CowVal<'b, 'v> {
    CowVal::owned(CelBool::from(b))
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "the crate's `Function` type passes the arguments by value"
)]
fn contains<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (a, b) = lists(&args)?;
    Ok(answer(all_in(a, b)))
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "the crate's `Function` type passes the arguments by value"
)]
fn equivalent<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (a, b) = lists(&args)?;
    Ok(answer(all_in(a, b) && all_in(b, a)))
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "the crate's `Function` type passes the arguments by value"
)]
fn intersects<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (a, b) = lists(&args)?;
    let mut items = b.iter();
    while let Some(x) = items.next() {
        if has(a, x) {
            return Ok(answer(true));
        }
    }
    Ok(answer(false))
}
